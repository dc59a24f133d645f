-- Flow tracing (issue 5): the subjects whose trajectories are traced, their pings
-- (partitioned by UTC day), the batches they came in, and what each tracing run
-- computed: the case's stays (exposure places) and its contacts with their evidence
-- and rule version. A subject is not a resident: phone or GeoLife trajectories often
-- belong to nobody registered, so the link to persons is optional.

CREATE TABLE trace_subjects (
  id         bigserial PRIMARY KEY,
  -- ext_id is the person id the source uses (GeoLife user folder, CSV person column),
  -- the key that makes later imports land on the same subject.
  ext_id     text NOT NULL UNIQUE CHECK (ext_id <> '' AND length(ext_id) <= 200),
  person_id  bigint REFERENCES persons(id) ON DELETE SET NULL,
  label      text NOT NULL DEFAULT '',
  -- A running summary kept by the ingest transaction: counting 10 million pings
  -- per subject list would take seconds.
  pings      bigint NOT NULL DEFAULT 0,
  first_at   timestamptz,
  last_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trace_subjects_person_idx ON trace_subjects (person_id) WHERE person_id IS NOT NULL;

-- One row per ingested file or request; the digest of its pings refuses a second
-- load of the same content (a retried upload), which would double every count.
CREATE TABLE ping_batches (
  id         bigserial PRIMARY KEY,
  source     text NOT NULL,
  digest     bytea NOT NULL UNIQUE,
  subjects   int NOT NULL,
  pings      bigint NOT NULL,
  first_at   timestamptz NOT NULL,
  last_at    timestamptz NOT NULL,
  created_by bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- pings is partitioned by UTC day; the store creates the partitions of the days it
-- ingests (under an advisory lock) before loading, so there is no default partition
-- to rewrite. There is no foreign key to trace_subjects: its per-row check cost a
-- third of the COPY rate (12.6 s against 9.4 s per million rows with these indexes,
-- measured); subjects are created in the transaction that loads their pings and the
-- trigger below refuses to delete one that still has pings.
CREATE TABLE pings (
  subject_id bigint NOT NULL,
  ts         timestamptz NOT NULL,
  geom       geometry(Point, 4326) NOT NULL,
  -- h3 is the ping's cell at the tracing policy's ping resolution (trace.Policy
  -- PingRes, 10 by default): the co-presence search probes (h3, ts) ranges.
  h3         bigint NOT NULL,
  source     text NOT NULL DEFAULT ''
) PARTITION BY RANGE (ts);
-- BRIN: each load is sorted by time, so block ranges follow time; tiny and cheap to keep.
CREATE INDEX pings_ts_brin ON pings USING brin (ts);
CREATE INDEX pings_geom_idx ON pings USING gist (geom);
CREATE INDEX pings_subject_ts_idx ON pings (subject_id, ts);
-- The co-presence candidates: pings in a cell (or a parent's range of cells) within a
-- time range, one index seek per probed cell.
CREATE INDEX pings_h3_ts_idx ON pings (h3, ts);

CREATE FUNCTION trace_subjects_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pings WHERE subject_id = OLD.id) THEN
    RAISE EXCEPTION 'trace subject % still has pings', OLD.id USING ERRCODE = '23503';
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER trace_subjects_keep BEFORE DELETE ON trace_subjects
  FOR EACH ROW EXECUTE FUNCTION trace_subjects_keep();

-- A tracing run: one co-presence search for a case, with the parameters that produced
-- it, so stored contacts can always be explained and reproduced.
CREATE TABLE trace_runs (
  id              bigserial PRIMARY KEY,
  case_subject_id bigint NOT NULL REFERENCES trace_subjects(id),
  rule_kind       text NOT NULL CHECK (rule_kind IN ('close', 'companion')),
  window_from     timestamptz NOT NULL,
  window_to       timestamptz NOT NULL CHECK (window_to >= window_from),
  degree          smallint NOT NULL CHECK (degree IN (1, 2)),
  params          jsonb NOT NULL,
  -- rule is copresence.Rule.String(): the policy version and every parameter.
  rule            text NOT NULL,
  rule_version    text NOT NULL,
  case_pings      int NOT NULL,
  loaded_pings    int NOT NULL,
  contacts        int NOT NULL,
  computed_by     bigint REFERENCES users(id) ON DELETE SET NULL,
  computed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trace_runs_case_idx ON trace_runs (case_subject_id, computed_at DESC);

CREATE TABLE contacts (
  id                 bigserial PRIMARY KEY,
  run_id             bigint NOT NULL REFERENCES trace_runs(id) ON DELETE CASCADE,
  case_subject_id    bigint NOT NULL REFERENCES trace_subjects(id),
  contact_subject_id bigint NOT NULL REFERENCES trace_subjects(id),
  degree             smallint NOT NULL CHECK (degree IN (1, 2)),
  -- via is the close contact through whom a degree-2 contact was reached.
  via_subject_id     bigint REFERENCES trace_subjects(id),
  rank               int NOT NULL,
  first_at           timestamptz NOT NULL,
  last_at            timestamptz NOT NULL,
  minutes            int NOT NULL CHECK (minutes >= 0),
  min_distance_m     double precision NOT NULL,
  -- evidence: the encounters [{start, end, minutes, min_distance_m, where}].
  evidence           jsonb NOT NULL,
  rule_version       text NOT NULL,
  computed_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, contact_subject_id),
  CHECK ((degree = 1) = (via_subject_id IS NULL))
);
CREATE INDEX contacts_case_idx ON contacts (case_subject_id, computed_at DESC);
CREATE INDEX contacts_contact_idx ON contacts (contact_subject_id);

-- The case's stays in the run's window: its itinerary and the exposure places to
-- disinfect, numbered in time order.
CREATE TABLE stays (
  id           bigserial PRIMARY KEY,
  run_id       bigint NOT NULL REFERENCES trace_runs(id) ON DELETE CASCADE,
  subject_id   bigint NOT NULL REFERENCES trace_subjects(id),
  seq          int NOT NULL,
  arrival      timestamptz NOT NULL,
  departure    timestamptz NOT NULL CHECK (departure >= arrival),
  geom         geometry(Point, 4326) NOT NULL,
  pings        int NOT NULL,
  rule         text NOT NULL,
  rule_version text NOT NULL,
  computed_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, seq)
);
CREATE INDEX stays_geom_idx ON stays USING gist (geom);
CREATE INDEX stays_subject_idx ON stays (subject_id, arrival);
