-- Sampling (issue 4): sampling points, rounds (全员核酸) with every household's point
-- and time slot or its place on a door-to-door list, swabs pooled 10-in-1 (混采),
-- door-to-door routes and the stop outcomes that count towards coverage.

CREATE TABLE sampling_points (
  id                bigserial PRIMARY KEY,
  -- ext_id keys generated points (the demo's "demo-point-<community code>") so a
  -- re-run adds nothing; NULL for points made by hand.
  ext_id            text UNIQUE,
  name              text NOT NULL,
  geom              geometry(Point, 4326) NOT NULL,
  -- area_id is the finest area containing the point: it decides who sees it.
  area_id           bigint REFERENCES areas(id),
  capacity_per_hour int NOT NULL CHECK (capacity_per_hour > 0),
  opens             time NOT NULL,
  closes            time NOT NULL CHECK (closes > opens),
  grid_ids          bigint[] NOT NULL DEFAULT '{}',
  version           int NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sampling_points_geom_idx ON sampling_points USING gist (geom);

CREATE TABLE sampling_rounds (
  id            bigserial PRIMARY KEY,
  name          text NOT NULL,
  area_id       bigint REFERENCES areas(id),
  zone_ids      bigint[] NOT NULL DEFAULT '{}',
  day           date NOT NULL,
  start_time    time NOT NULL,
  slot_minutes  int NOT NULL CHECK (slot_minutes > 0),
  walk_limit_m  float8 NOT NULL,
  walk_kmh      float8 NOT NULL,
  status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  -- stats is what the assignment reported (counts, walking distances, overloaded
  -- points, suggested points), computed once when the round is made.
  stats         jsonb NOT NULL DEFAULT '{}',
  -- route_unassigned lists the door-to-door households the last route plan could not
  -- fit in any team's shift, with the reason.
  route_unassigned jsonb NOT NULL DEFAULT '[]',
  created_by    bigint REFERENCES users(id),
  created_at    timestamptz NOT NULL DEFAULT now(),
  closed_at     timestamptz
);

-- One row per household of a round: a point and slot, or door_to_door with a reason
-- (point_id NULL and a reason without door_to_door: no capacity left anywhere).
CREATE TABLE sampling_assignments (
  round_id     bigint NOT NULL REFERENCES sampling_rounds(id) ON DELETE CASCADE,
  household_id bigint NOT NULL REFERENCES households(id) ON DELETE CASCADE,
  grid_id      bigint REFERENCES areas(id),
  point_id     bigint REFERENCES sampling_points(id) ON DELETE SET NULL,
  slot_start   timestamptz,
  slot_end     timestamptz,
  walk_m       float8,
  persons      int NOT NULL DEFAULT 0,
  door_to_door boolean NOT NULL DEFAULT false,
  reason       text NOT NULL DEFAULT '',
  PRIMARY KEY (round_id, household_id)
);
CREATE INDEX sampling_assignments_point_idx ON sampling_assignments (point_id, round_id);
CREATE INDEX sampling_assignments_grid_idx ON sampling_assignments (round_id, grid_id);

-- A pool is the physical pooled tube (its barcode is the id): up to 10 swabs.
CREATE TABLE sampling_pools (
  id          text PRIMARY KEY,
  round_id    bigint NOT NULL REFERENCES sampling_rounds(id) ON DELETE CASCADE,
  result      text NOT NULL DEFAULT 'pending' CHECK (result IN ('pending', 'positive', 'negative')),
  result_at   timestamptz,
  result_by   bigint REFERENCES users(id),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sampling_pools_round_idx ON sampling_pools (round_id);

-- A tube is used once, so tube_id is unique across rounds.
CREATE TABLE sampling_swabs (
  id           bigserial PRIMARY KEY,
  round_id     bigint NOT NULL REFERENCES sampling_rounds(id) ON DELETE CASCADE,
  person_id    bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
  household_id bigint NOT NULL REFERENCES households(id) ON DELETE CASCADE,
  tube_id      text NOT NULL UNIQUE,
  pool_id      text NOT NULL REFERENCES sampling_pools(id),
  taken_at     timestamptz NOT NULL DEFAULT now(),
  sampler_id   bigint REFERENCES users(id),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sampling_swabs_round_person_idx ON sampling_swabs (round_id, person_id);
CREATE INDEX sampling_swabs_pool_idx ON sampling_swabs (pool_id);

-- Door-to-door routes: one row per team of the round's current plan.
CREATE TABLE sampling_routes (
  round_id      bigint NOT NULL REFERENCES sampling_rounds(id) ON DELETE CASCADE,
  team          int NOT NULL,
  name          text NOT NULL,
  user_id       bigint REFERENCES users(id) ON DELETE SET NULL,
  depot         geometry(Point, 4326) NOT NULL,
  shift_minutes int NOT NULL,
  line          geometry(LineString, 4326),
  walk_m        float8 NOT NULL,
  minutes       float8 NOT NULL,
  PRIMARY KEY (round_id, team)
);
CREATE INDEX sampling_routes_user_idx ON sampling_routes (user_id);

CREATE TABLE sampling_stops (
  round_id     bigint NOT NULL REFERENCES sampling_rounds(id) ON DELETE CASCADE,
  household_id bigint NOT NULL REFERENCES households(id) ON DELETE CASCADE,
  team         int NOT NULL,
  seq          int NOT NULL,
  eta          timestamptz NOT NULL,
  PRIMARY KEY (round_id, household_id)
);
CREATE INDEX sampling_stops_team_idx ON sampling_stops (round_id, team, seq);

-- Outcomes are kept apart from stops so that re-planning routes loses none.
CREATE TABLE sampling_outcomes (
  round_id     bigint NOT NULL REFERENCES sampling_rounds(id) ON DELETE CASCADE,
  household_id bigint NOT NULL REFERENCES households(id) ON DELETE CASCADE,
  outcome      text NOT NULL CHECK (outcome IN ('done', 'nobody_home', 'refused')),
  by_user      bigint REFERENCES users(id),
  at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (round_id, household_id)
);
