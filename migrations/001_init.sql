-- Foundation schema: the spatial hierarchy, households and persons, cases, users and
-- their jurisdiction, the audit log and the change feed (outbox). Every geometry is
-- SRID 4326; H3 cells are bigint computed in Go (Debian ships no h3 extension).
CREATE EXTENSION IF NOT EXISTS postgis;

-- h3_parent returns the ancestor of an H3 cell at a coarser resolution by bit
-- arithmetic on the index (resolution in bits 52..55, 3 bits per digit, unused digits
-- set to 7), so coarser heat maps need no stored column per resolution.
CREATE FUNCTION h3_parent(cell bigint, res int) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT ((cell & ~(15::bigint << 52)) | (res::bigint << 52))
         | ((1::bigint << (3 * (15 - res))) - 1)
$$;

CREATE TABLE areas (
  id         bigserial PRIMARY KEY,
  parent_id  bigint REFERENCES areas(id),
  level      text NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid')),
  name       text NOT NULL,
  -- code is the stable key that makes imports idempotent (e.g. "浦东新区/万祥镇").
  code       text NOT NULL UNIQUE,
  -- ancestors holds the ids from the district down to this area itself, so the
  -- jurisdiction test is one array overlap with the caller's areas.
  ancestors  bigint[] NOT NULL DEFAULT '{}',
  props      jsonb NOT NULL DEFAULT '{}',
  geom       geometry(MultiPolygon, 4326) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX areas_geom_idx ON areas USING gist (geom);
CREATE INDEX areas_parent_idx ON areas (parent_id);
CREATE INDEX areas_level_idx ON areas (level);
CREATE INDEX areas_ancestors_idx ON areas USING gin (ancestors);

CREATE TABLE households (
  id         bigserial PRIMARY KEY,
  -- area_id is the finest area containing the point (a grid when grids exist).
  area_id    bigint REFERENCES areas(id),
  ext_id     text UNIQUE,
  address    text NOT NULL,
  building   text NOT NULL DEFAULT '',
  unit       text NOT NULL DEFAULT '',
  geom       geometry(Point, 4326) NOT NULL,
  h3_r8      bigint NOT NULL,
  h3_r12     bigint NOT NULL,
  flags      text[] NOT NULL DEFAULT '{}',
  version    int NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX households_geom_idx ON households USING gist (geom);
CREATE INDEX households_area_idx ON households (area_id);
CREATE INDEX households_h3_r8_idx ON households (h3_r8);
CREATE INDEX households_h3_r12_idx ON households (h3_r12);

CREATE TABLE persons (
  id            bigserial PRIMARY KEY,
  household_id  bigint NOT NULL REFERENCES households(id) ON DELETE CASCADE,
  name          text NOT NULL,
  id_number     text NOT NULL DEFAULT '',
  phone         text NOT NULL DEFAULT '',
  birth_date    date,
  sex           text NOT NULL DEFAULT '' CHECK (sex IN ('', 'M', 'F')),
  status        text NOT NULL DEFAULT 'normal' CHECK (status IN (
                  'normal', 'health_monitoring', 'home_isolation', 'central_isolation',
                  'close_contact', 'secondary_contact', 'confirmed', 'asymptomatic',
                  'recovered', 'deceased')),
  vulnerability text[] NOT NULL DEFAULT '{}' CHECK (vulnerability <@ ARRAY[
                  'elderly_alone', 'disabled', 'left_behind_child', 'severely_ill',
                  'low_income', 'bedridden', 'pregnant']::text[]),
  health_code   text NOT NULL DEFAULT 'green' CHECK (health_code IN ('green', 'yellow', 'red')),
  version       int NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persons_household_idx ON persons (household_id);
CREATE INDEX persons_vulnerable_idx ON persons (household_id) WHERE vulnerability <> '{}';

CREATE TABLE cases (
  id           bigserial PRIMARY KEY,
  ext_id       text UNIQUE,
  person_id    bigint REFERENCES persons(id),
  household_id bigint REFERENCES households(id),
  kind         text NOT NULL DEFAULT 'confirmed' CHECK (kind IN ('confirmed', 'asymptomatic', 'suspected')),
  reported_at  timestamptz NOT NULL,
  onset_at     timestamptz,
  address      text NOT NULL DEFAULT '',
  area_id      bigint REFERENCES areas(id),
  geom         geometry(Point, 4326) NOT NULL,
  h3_r8        bigint NOT NULL,
  h3_r12       bigint NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_geom_idx ON cases USING gist (geom);
CREATE INDEX cases_reported_idx ON cases (reported_at);
CREATE INDEX cases_area_idx ON cases (area_id);

CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('admin', 'commander', 'grid_worker', 'sampler', 'tracer', 'viewer')),
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_areas (
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  area_id bigint NOT NULL REFERENCES areas(id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, area_id)
);

-- Only the SHA-256 of a session token is stored, so a leaked table opens no session.
CREATE TABLE sessions (
  token_hash bytea PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE audit_log (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT now(),
  user_id   bigint REFERENCES users(id),
  action    text NOT NULL,
  entity    text NOT NULL,
  entity_id bigint,
  route     text NOT NULL DEFAULT '',
  detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id);

-- changes is the outbox: written in the same transaction as the change it describes;
-- listeners read it by id after a payload-less NOTIFY (or by polling).
CREATE TABLE changes (
  id         bigserial PRIMARY KEY,
  kind       text NOT NULL,
  entity     text NOT NULL,
  entity_id  bigint,
  area_id    bigint REFERENCES areas(id),
  bbox       float8[] CHECK (bbox IS NULL OR array_length(bbox, 1) = 4),
  payload    jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One statement-level NOTIFY without payload: PostgreSQL folds identical notifications
-- of a transaction into one, delivered on commit.
CREATE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('gridtrace_changes', '');
  RETURN NULL;
END $$;
CREATE TRIGGER changes_notify AFTER INSERT ON changes
  FOR EACH STATEMENT EXECUTE FUNCTION changes_notify();
