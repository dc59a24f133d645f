-- Care (issue 6): home isolation and health monitoring with twice-daily temperature
-- check-ins, central isolation sites and transfers, the vulnerable and their daily
-- contacts, supply deliveries, alerts, and the submissions of the daily report.
-- Numbered 005: 004 is the sampling migration; nothing here depends on it.

-- care_policies holds every version of the care policy as JSON (care.Policy); the
-- newest is current, none means the built-in default (version 0). Never updated.
CREATE TABLE care_policies (
  version    int PRIMARY KEY CHECK (version > 0),
  body       jsonb NOT NULL,
  created_by bigint REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- isolation_sites are the central isolation points (集中隔离点). occupied counts the
-- rooms taken by transfers under way or arrived; the CHECK is the last guard against
-- over-filling, the conditional UPDATE in the store the first.
CREATE TABLE isolation_sites (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL,
  address    text NOT NULL DEFAULT '',
  area_id    bigint REFERENCES areas(id),
  geom       geometry(Point, 4326) NOT NULL,
  rooms      int NOT NULL CHECK (rooms >= 0),
  occupied   int NOT NULL DEFAULT 0 CHECK (occupied >= 0 AND occupied <= rooms),
  created_by bigint REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX isolation_sites_geom_idx ON isolation_sites USING gist (geom);

-- isolations: one row per spell of home isolation, health monitoring or central
-- isolation. start_date is the day the period counts from (arrival or last
-- exposure); began_on the day this spell began (a transfer to a site ends the home
-- spell and begins a central one with the same start_date). A spell is under way on
-- day D when began_on <= D and (ended_on IS NULL OR ended_on > D).
CREATE TABLE isolations (
  id             bigserial PRIMARY KEY,
  person_id      bigint NOT NULL REFERENCES persons(id),
  household_id   bigint NOT NULL REFERENCES households(id),
  kind           text NOT NULL CHECK (kind IN ('home_isolation', 'health_monitoring', 'central_isolation')),
  reason         text NOT NULL CHECK (reason IN ('returnee', 'close_contact', 'secondary_contact')),
  start_date     date NOT NULL,
  period_days    int NOT NULL CHECK (period_days BETWEEN 1 AND 60),
  began_on       date NOT NULL,
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'released', 'transferred')),
  ended_on       date,
  site_id        bigint REFERENCES isolation_sites(id),
  eligibility    jsonb NOT NULL DEFAULT '{}',
  policy_version int NOT NULL DEFAULT 0,
  created_by     bigint REFERENCES users(id),
  created_at     timestamptz NOT NULL DEFAULT now(),
  released_at    timestamptz,
  released_by    bigint REFERENCES users(id),
  release_note   text NOT NULL DEFAULT ''
);
-- One spell under way per person.
CREATE UNIQUE INDEX isolations_person_active_idx ON isolations (person_id) WHERE status = 'active';
CREATE INDEX isolations_household_idx ON isolations (household_id);
CREATE INDEX isolations_active_idx ON isolations (status) WHERE status = 'active';

CREATE TABLE checkins (
  id           bigserial PRIMARY KEY,
  isolation_id bigint NOT NULL REFERENCES isolations(id),
  at           timestamptz NOT NULL,
  temperature  numeric(3, 1) NOT NULL CHECK (temperature BETWEEN 30 AND 45),
  source       text NOT NULL CHECK (source IN ('worker', 'resident')),
  symptoms     text NOT NULL DEFAULT '',
  recorded_by  bigint REFERENCES users(id),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkins_isolation_idx ON checkins (isolation_id, at);

-- transfers (转运): a room is taken when the transfer is requested and given back when
-- it is cancelled or the spell at the site ends.
CREATE TABLE transfers (
  id                bigserial PRIMARY KEY,
  person_id         bigint NOT NULL REFERENCES persons(id),
  from_household_id bigint NOT NULL REFERENCES households(id),
  site_id           bigint NOT NULL REFERENCES isolation_sites(id),
  isolation_id      bigint REFERENCES isolations(id),
  reason            text NOT NULL CHECK (reason IN ('returnee', 'close_contact', 'secondary_contact')),
  vehicle           text NOT NULL DEFAULT '',
  status            text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'in_transit', 'arrived', 'cancelled')),
  created_by        bigint REFERENCES users(id),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX transfers_person_open_idx ON transfers (person_id) WHERE status IN ('requested', 'in_transit');

-- care_workers: the worker responsible for each vulnerable person (包户).
CREATE TABLE care_workers (
  person_id   bigint PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
  worker_id   bigint NOT NULL REFERENCES users(id),
  assigned_by bigint REFERENCES users(id),
  assigned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX care_workers_worker_idx ON care_workers (worker_id);

-- care_contacts: a worker's daily contact with a vulnerable person and the needs
-- found; day is the local day of the contact (care policy offset).
CREATE TABLE care_contacts (
  id          bigserial PRIMARY KEY,
  person_id   bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
  day         date NOT NULL,
  at          timestamptz NOT NULL,
  needs       text[] NOT NULL DEFAULT '{}' CHECK (needs <@ ARRAY['food', 'medicine', 'care']::text[]),
  note        text NOT NULL DEFAULT '',
  recorded_by bigint REFERENCES users(id)
);
CREATE INDEX care_contacts_person_day_idx ON care_contacts (person_id, day);

-- deliveries: supplies brought to the door of sealed or isolated households.
CREATE TABLE deliveries (
  id           bigserial PRIMARY KEY,
  household_id bigint NOT NULL REFERENCES households(id),
  items        text[] NOT NULL CHECK (items <> '{}' AND items <@ ARRAY['food', 'medicine', 'care', 'daily_goods']::text[]),
  note         text NOT NULL DEFAULT '',
  status       text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'dispatched', 'delivered', 'cancelled')),
  created_by   bigint REFERENCES users(id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_household_idx ON deliveries (household_id);

-- alerts: fever, missed check-in, missed vulnerable contact, over capacity. key makes
-- raising idempotent (the sweeper may run on several servers at once).
CREATE TABLE alerts (
  id              bigserial PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('fever', 'missed_checkin', 'missed_contact', 'over_capacity')),
  key             text NOT NULL UNIQUE,
  status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'closed')),
  area_id         bigint REFERENCES areas(id),
  person_id       bigint REFERENCES persons(id),
  isolation_id    bigint REFERENCES isolations(id),
  site_id         bigint REFERENCES isolation_sites(id),
  message         text NOT NULL,
  detail          jsonb NOT NULL DEFAULT '{}',
  raised_at       timestamptz NOT NULL,
  acknowledged_at timestamptz,
  acknowledged_by bigint REFERENCES users(id),
  closed_at       timestamptz,
  closed_by       bigint REFERENCES users(id)
);
CREATE INDEX alerts_open_idx ON alerts (area_id) WHERE status <> 'closed';
CREATE INDEX alerts_isolation_idx ON alerts (isolation_id) WHERE isolation_id IS NOT NULL;

-- report_submissions: a grid's daily report, submitted by its worker (one per day).
CREATE TABLE report_submissions (
  area_id      bigint NOT NULL REFERENCES areas(id),
  day          date NOT NULL,
  submitted_by bigint REFERENCES users(id),
  submitted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (area_id, day)
);
