-- Jurisdiction fixture for the area, household, case and H3 tests: one district (1)
-- with street 2 (communities 3 and 4) and street 5 (community 6), as squares near
-- Shanghai. No point lies on a shared edge. The h3_r8/h3_r12 columns are 0 here: the
-- test loaders fill them in Go with geo.CellOf (Debian ships no h3 extension).
INSERT INTO areas (id, parent_id, level, name, code, ancestors, geom) VALUES
  (1, NULL, 'district',  '测试区', '测试区',               '{1}',     ST_Multi(ST_MakeEnvelope(121.40, 31.10, 121.60, 31.30, 4326))),
  (2, 1,    'street',    '甲街道', '测试区/甲街道',        '{1,2}',   ST_Multi(ST_MakeEnvelope(121.40, 31.10, 121.50, 31.20, 4326))),
  (3, 2,    'community', '一社区', '测试区/甲街道/一社区', '{1,2,3}', ST_Multi(ST_MakeEnvelope(121.40, 31.10, 121.45, 31.15, 4326))),
  (4, 2,    'community', '二社区', '测试区/甲街道/二社区', '{1,2,4}', ST_Multi(ST_MakeEnvelope(121.45, 31.10, 121.50, 31.15, 4326))),
  (5, 1,    'street',    '乙街道', '测试区/乙街道',        '{1,5}',   ST_Multi(ST_MakeEnvelope(121.50, 31.10, 121.60, 31.20, 4326))),
  (6, 5,    'community', '三社区', '测试区/乙街道/三社区', '{1,5,6}', ST_Multi(ST_MakeEnvelope(121.50, 31.10, 121.55, 31.15, 4326)));
SELECT setval('areas_id_seq', 100);

-- Household 5 lies outside every area (admin only); household 6 is in street 2 but
-- in none of its communities.
INSERT INTO households (id, area_id, ext_id, address, building, unit, geom, h3_r8, h3_r12) VALUES
  (1, 3,    'h-1', '一社区1号',   '1', '1', ST_SetSRID(ST_MakePoint(121.41, 31.11), 4326), 0, 0),
  (2, 3,    'h-2', '一社区2号',   '2', '',  ST_SetSRID(ST_MakePoint(121.42, 31.12), 4326), 0, 0),
  (3, 4,    'h-3', '二社区1号',   '',  '',  ST_SetSRID(ST_MakePoint(121.46, 31.11), 4326), 0, 0),
  (4, 6,    'h-4', '三社区1号',   '',  '',  ST_SetSRID(ST_MakePoint(121.51, 31.11), 4326), 0, 0),
  (5, NULL, 'h-5', '区外1号',     '',  '',  ST_SetSRID(ST_MakePoint(121.70, 31.40), 4326), 0, 0),
  (6, 2,    'h-6', '甲街道无社区', '',  '',  ST_SetSRID(ST_MakePoint(121.48, 31.18), 4326), 0, 0);
SELECT setval('households_id_seq', 100);

INSERT INTO persons (id, household_id, name, id_number, phone, birth_date, sex, vulnerability) VALUES
  (1, 1, '张三丰', '310101199001021234', '13812345678', '1990-01-02', 'M', '{}'),
  (2, 1, '李四',   '310101194506071235', '13900001111', '1945-06-07', 'F', '{elderly_alone}'),
  (3, 2, '王五',   '310101198003031236', '13700002222', '1980-03-03', 'M', '{}'),
  (4, 3, '赵六',   '310101197004041237', '13600003333', '1970-04-04', 'F', '{disabled}'),
  (5, 3, '赵小六', '',                   '',            NULL,         '',  '{left_behind_child}'),
  (6, 4, '钱七',   '310101196005051238', '13500004444', '1960-05-05', 'M', '{}'),
  (7, 5, '孙八',   '310101195006061239', '13400005555', '1950-06-06', 'F', '{}'),
  (8, 6, '周九',   '310101194007071230', '13300006666', '1940-07-07', 'M', '{severely_ill}');
SELECT setval('persons_id_seq', 100);

-- Case 3 has no area (admin only); case 1 is person 1's.
INSERT INTO cases (id, ext_id, person_id, household_id, kind, reported_at, address, area_id, geom, h3_r8, h3_r12) VALUES
  (1, 'c-1', 1,    1,    'confirmed',    '2022-04-04T10:00:00+08', '一社区1号', 3,    ST_SetSRID(ST_MakePoint(121.41, 31.11), 4326), 0, 0),
  (2, 'c-2', NULL, NULL, 'asymptomatic', '2022-04-05T10:00:00+08', '三社区某路', 6,    ST_SetSRID(ST_MakePoint(121.52, 31.12), 4326), 0, 0),
  (3, 'c-3', NULL, NULL, 'confirmed',    '2022-04-05T12:00:00+08', '区外某路',   NULL, ST_SetSRID(ST_MakePoint(121.70, 31.40), 4326), 0, 0),
  (4, 'c-4', NULL, NULL, 'suspected',    '2022-04-06T09:00:00+08', '二社区某路', 4,    ST_SetSRID(ST_MakePoint(121.47, 31.12), 4326), 0, 0);
SELECT setval('cases_id_seq', 100);
