-- Zones (issue 3): the versioned zone policy, sealed/control/precaution zones drawn by
-- hand or proposed from cases, and every version of every zone (who, when, why).
-- Numbered 003 because 002 is the tracing migration written alongside; zones do not
-- depend on it.

-- zone_policies holds every version of the zone policy as JSON (grid.ZonePolicy);
-- the current policy is the newest version. Rows are never updated.
CREATE TABLE zone_policies (
  version    int PRIMARY KEY CHECK (version > 0),
  body       jsonb NOT NULL,
  created_by bigint REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE zones (
  id             bigserial PRIMARY KEY,
  kind           text NOT NULL CHECK (kind IN ('sealed', 'control', 'precaution')),
  status         text NOT NULL CHECK (status IN ('proposed', 'active', 'downgraded', 'lifted', 'rejected')),
  source         text NOT NULL CHECK (source IN ('drawn', 'computed')),
  geom           geometry(MultiPolygon, 4326) NOT NULL,
  -- area_id is the finest area containing the zone's centroid (NULL when none), the
  -- area its change-feed rows are filed under.
  area_id        bigint REFERENCES areas(id),
  policy_version int REFERENCES zone_policies(version),
  case_ids       bigint[] NOT NULL DEFAULT '{}',
  -- escalation is the level the zone's cases showed when it was proposed
  -- (epidemic_point, cluster, community_transmission); '' for drawn zones.
  escalation     text NOT NULL DEFAULT '' CHECK (escalation IN ('', 'epidemic_point', 'cluster', 'community_transmission')),
  reason         text NOT NULL DEFAULT '',
  version        int NOT NULL DEFAULT 1,
  created_by     bigint REFERENCES users(id),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  activated_at   timestamptz,
  -- stepped_at is when the zone last became active or was downgraded: the lifting
  -- clock runs from the later of it and the last case inside ("7 days per step").
  stepped_at     timestamptz,
  lifted_at      timestamptz,
  lifted_by      bigint REFERENCES users(id)
);
CREATE INDEX zones_geom_idx ON zones USING gist (geom);
CREATE INDEX zones_status_kind_idx ON zones (status, kind);

-- zone_versions keeps every version of every zone, the first included, so no edit is
-- ever lost; (zone_id, version) matches zones.version at the time of the change.
CREATE TABLE zone_versions (
  zone_id    bigint NOT NULL REFERENCES zones(id),
  version    int NOT NULL,
  action     text NOT NULL CHECK (action IN ('propose', 'create', 'edit', 'accept', 'reject', 'downgrade', 'lift')),
  kind       text NOT NULL,
  status     text NOT NULL,
  geom       geometry(MultiPolygon, 4326) NOT NULL,
  changed_by bigint REFERENCES users(id),
  changed_at timestamptz NOT NULL DEFAULT now(),
  reason     text NOT NULL DEFAULT '',
  -- repaired says what the server changed in a drawn geometry to make it valid.
  repaired   text NOT NULL DEFAULT '',
  -- forced marks a lift or downgrade decided before the policy's conditions held.
  forced     boolean NOT NULL DEFAULT false,
  PRIMARY KEY (zone_id, version)
);
