-- The status page's own database: components, incidents with their updates, probe results.
CREATE TABLE components (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    group_name  TEXT,
    position    INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'operational' CHECK (status IN
                ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE incidents (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    impact       TEXT NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical')),
    -- Opened by a probe (and resolved by it), or by a person.
    automatic    INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    resolved_at  TEXT
);
CREATE INDEX incidents_created ON incidents (created_at);

CREATE TABLE incident_components (
    incident_id   TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    component_id  TEXT NOT NULL REFERENCES components (id),
    PRIMARY KEY (incident_id, component_id)
);
CREATE INDEX incident_components_component ON incident_components (component_id);

CREATE TABLE incident_updates (
    id           TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);

CREATE TABLE probe_results (
    component_id  TEXT NOT NULL REFERENCES components (id),
    at            TEXT NOT NULL,
    ok            INTEGER NOT NULL,
    latency_ms    INTEGER,
    error         TEXT
);
CREATE INDEX probe_results_component ON probe_results (component_id, at);

-- Maintenance planned ahead: announced (created) before it starts, which decides whether
-- the SLA leaves it out.
CREATE TABLE maintenances (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'in_progress', 'verifying', 'completed')),
    scheduled_for    TEXT NOT NULL,
    scheduled_until  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX maintenances_scheduled ON maintenances (scheduled_for);

CREATE TABLE maintenance_components (
    maintenance_id  TEXT NOT NULL REFERENCES maintenances (id) ON DELETE CASCADE,
    component_id    TEXT NOT NULL REFERENCES components (id),
    PRIMARY KEY (maintenance_id, component_id)
);
CREATE INDEX maintenance_components_component ON maintenance_components (component_id);

CREATE TABLE maintenance_updates (
    id              TEXT PRIMARY KEY,
    maintenance_id  TEXT NOT NULL REFERENCES maintenances (id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX maintenance_updates_maintenance ON maintenance_updates (maintenance_id, created_at);

-- Who is told about incidents and maintenance: signed webhooks (and, later, e-mail).
CREATE TABLE subscribers (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    target           TEXT NOT NULL,
    -- Signs webhook bodies (HMAC-SHA256).
    secret           TEXT NOT NULL,
    -- The component ids followed, as a JSON array; empty: all of them.
    components       TEXT NOT NULL DEFAULT '[]',
    confirmed_at     TEXT,
    unsubscribed_at  TEXT,
    created_at       TEXT NOT NULL
);

-- The outbox: one row per message to deliver, retried until it is.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    subscriber_id    TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    delivered_at     TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (delivered_at, next_attempt_at);
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);
