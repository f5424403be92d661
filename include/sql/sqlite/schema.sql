-- IDENT database tables written by the integrations (SQLite, the demo's embedded default).
-- Every date-time is UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. Safe to run again.

CREATE TABLE IF NOT EXISTS ident_leads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    external_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    phone_raw TEXT NOT NULL,
    phone TEXT NULL,
    full_name TEXT NULL,
    surname TEXT NULL,
    name TEXT NULL,
    patronymic TEXT NULL,
    email TEXT NULL,
    form_name TEXT NULL,
    doctor_id INTEGER NULL,
    doctor_name TEXT NULL,
    plan_start TEXT NULL,
    plan_end TEXT NULL,
    comment TEXT NULL,
    utm_source TEXT NULL,
    utm_medium TEXT NULL,
    utm_campaign TEXT NULL,
    utm_term TEXT NULL,
    utm_content TEXT NULL,
    http_referer TEXT NULL,
    raw_payload TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_loaded_at TEXT NOT NULL,
    last_loaded_at TEXT NOT NULL,
    UNIQUE (integration, external_id, created_at)
);

CREATE INDEX IF NOT EXISTS ix_ident_leads_created ON ident_leads (integration, created_at);

CREATE INDEX IF NOT EXISTS ix_ident_leads_phone ON ident_leads (phone);

CREATE TABLE IF NOT EXISTS ident_sync_state (
    integration TEXT NOT NULL,
    capability TEXT NOT NULL,
    enabled_on TEXT NOT NULL,
    watermark TEXT NULL,
    last_window_start TEXT NULL,
    last_window_end TEXT NULL,
    last_success_at TEXT NULL,
    PRIMARY KEY (integration, capability)
);

CREATE TABLE IF NOT EXISTS ident_rejects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    capability TEXT NOT NULL,
    record_hash TEXT NOT NULL,
    external_id TEXT NULL,
    raw_payload TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    UNIQUE (integration, capability, record_hash)
);

CREATE TABLE IF NOT EXISTS ident_exchange_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    capability TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    http_status INTEGER NULL,
    duration_ms INTEGER NOT NULL,
    error_text TEXT NULL,
    logged_at TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_ident_exchange_log_time ON ident_exchange_log (integration, logged_at);
