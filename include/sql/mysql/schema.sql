CREATE TABLE ident_alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT ident_alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE ident_leads (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    integration VARCHAR(64) NOT NULL, 
    external_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL, 
    created_at DATETIME(6) NOT NULL, 
    phone_raw VARCHAR(64) NOT NULL, 
    phone VARCHAR(16), 
    full_name VARCHAR(255), 
    surname VARCHAR(100), 
    name VARCHAR(100), 
    patronymic VARCHAR(100), 
    email VARCHAR(255), 
    form_name VARCHAR(255), 
    doctor_id BIGINT, 
    doctor_name VARCHAR(255), 
    plan_start DATETIME(6), 
    plan_end DATETIME(6), 
    comment MEDIUMTEXT, 
    utm_source VARCHAR(255), 
    utm_medium VARCHAR(255), 
    utm_campaign VARCHAR(255), 
    utm_term VARCHAR(255), 
    utm_content VARCHAR(255), 
    http_referer VARCHAR(2000), 
    raw_payload LONGTEXT NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    first_loaded_at DATETIME(6) NOT NULL, 
    last_loaded_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_leads PRIMARY KEY (id), 
    CONSTRAINT uq_ident_leads_key UNIQUE (integration, external_id, created_at)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_leads_created ON ident_leads (integration, created_at);

CREATE INDEX ix_ident_leads_phone ON ident_leads (phone);

CREATE TABLE ident_sync_state (
    integration VARCHAR(64) NOT NULL, 
    capability VARCHAR(32) NOT NULL, 
    enabled_on DATE NOT NULL, 
    watermark DATETIME(6), 
    last_window_start DATETIME(6), 
    last_window_end DATETIME(6), 
    last_success_at DATETIME(6), 
    CONSTRAINT pk_ident_sync_state PRIMARY KEY (integration, capability)
)CHARSET=utf8mb4;

CREATE TABLE ident_rejects (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    integration VARCHAR(64) NOT NULL, 
    capability VARCHAR(32) NOT NULL, 
    record_hash CHAR(64) NOT NULL, 
    external_id VARCHAR(191), 
    raw_payload LONGTEXT NOT NULL, 
    reason LONGTEXT NOT NULL, 
    seen_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_rejects PRIMARY KEY (id), 
    CONSTRAINT uq_ident_rejects_record UNIQUE (integration, capability, record_hash)
)CHARSET=utf8mb4;

CREATE TABLE ident_exchange_log (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    integration VARCHAR(64) NOT NULL, 
    capability VARCHAR(32) NOT NULL, 
    method VARCHAR(10) NOT NULL, 
    url VARCHAR(2000) NOT NULL, 
    http_status INTEGER, 
    duration_ms INTEGER NOT NULL, 
    error_text LONGTEXT, 
    logged_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_exchange_log PRIMARY KEY (id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_exchange_log_time ON ident_exchange_log (integration, logged_at);

INSERT INTO ident_alembic_version (version_num) VALUES ('0001');

-- Running upgrade 0001 -> 0002

CREATE TABLE ident_calls (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    integration VARCHAR(64) NOT NULL, 
    external_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL, 
    started_at DATETIME(6) NOT NULL, 
    finished_at DATETIME(6) NOT NULL, 
    direction VARCHAR(3) NOT NULL, 
    is_lost BOOL NOT NULL, 
    contact_phone_raw VARCHAR(64), 
    contact_phone VARCHAR(16), 
    virtual_phone VARCHAR(64), 
    wait_seconds INTEGER, 
    talk_seconds INTEGER, 
    total_seconds INTEGER, 
    finish_reason VARCHAR(100), 
    employee_name VARCHAR(255), 
    scenario_name VARCHAR(255), 
    record_urls LONGTEXT, 
    utm_source VARCHAR(255), 
    utm_medium VARCHAR(255), 
    utm_campaign VARCHAR(255), 
    utm_term VARCHAR(255), 
    utm_content VARCHAR(255), 
    referrer VARCHAR(2000), 
    raw_payload LONGTEXT NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    first_loaded_at DATETIME(6) NOT NULL, 
    last_loaded_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_calls PRIMARY KEY (id), 
    CONSTRAINT uq_ident_calls_key UNIQUE (integration, external_id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_calls_started ON ident_calls (integration, started_at);

CREATE INDEX ix_ident_calls_phone ON ident_calls (contact_phone);

CREATE TABLE ident_ongoing_calls (
    integration VARCHAR(64) NOT NULL, 
    external_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL, 
    started_at DATETIME(6) NOT NULL, 
    direction VARCHAR(3) NOT NULL, 
    is_lost BOOL NOT NULL, 
    contact_phone_raw VARCHAR(64), 
    contact_phone VARCHAR(16), 
    virtual_phone VARCHAR(64), 
    wait_seconds INTEGER, 
    talk_seconds INTEGER, 
    total_seconds INTEGER, 
    finish_reason VARCHAR(100), 
    employee_name VARCHAR(255), 
    scenario_name VARCHAR(255), 
    record_urls LONGTEXT, 
    utm_source VARCHAR(255), 
    utm_medium VARCHAR(255), 
    utm_campaign VARCHAR(255), 
    utm_term VARCHAR(255), 
    utm_content VARCHAR(255), 
    referrer VARCHAR(2000), 
    raw_payload LONGTEXT NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    seen_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_ongoing_calls PRIMARY KEY (integration, external_id)
)CHARSET=utf8mb4;

UPDATE ident_alembic_version SET version_num='0002' WHERE ident_alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

CREATE TABLE ident_cache_check_report (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    checked_at DATETIME(6) NOT NULL, 
    integration VARCHAR(64) NOT NULL, 
    capability VARCHAR(32) NOT NULL, 
    day DATE NOT NULL, 
    fetched INTEGER NOT NULL, 
    `stored` INTEGER NOT NULL, 
    missing INTEGER NOT NULL, 
    extra INTEGER NOT NULL, 
    changed INTEGER NOT NULL, 
    repaired INTEGER NOT NULL, 
    CONSTRAINT pk_ident_cache_check_report PRIMARY KEY (id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_cache_check_report_day ON ident_cache_check_report (integration, capability, day);

UPDATE ident_alembic_version SET version_num='0003' WHERE ident_alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

CREATE TABLE ident_branches (
    id BIGINT NOT NULL, 
    name VARCHAR(255) NOT NULL, 
    address VARCHAR(500), 
    phone VARCHAR(32), 
    timezone VARCHAR(64) NOT NULL, 
    CONSTRAINT pk_ident_branches PRIMARY KEY (id)
)CHARSET=utf8mb4;

CREATE TABLE ident_doctors (
    id BIGINT NOT NULL, 
    name VARCHAR(255) NOT NULL, 
    specialty VARCHAR(255), 
    active BOOL NOT NULL, 
    created_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_doctors PRIMARY KEY (id)
)CHARSET=utf8mb4;

CREATE TABLE ident_doctor_branches (
    doctor_id BIGINT NOT NULL, 
    branch_id BIGINT NOT NULL, 
    CONSTRAINT pk_ident_doctor_branches PRIMARY KEY (doctor_id, branch_id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_doctor_branches_branch ON ident_doctor_branches (branch_id);

CREATE TABLE ident_work_intervals (
    doctor_id BIGINT NOT NULL, 
    branch_id BIGINT NOT NULL, 
    starts_at DATETIME(6) NOT NULL, 
    ends_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_work_intervals PRIMARY KEY (doctor_id, branch_id, starts_at)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_work_intervals_time ON ident_work_intervals (starts_at, ends_at);

CREATE TABLE ident_appointments (
    id BIGINT NOT NULL, 
    doctor_id BIGINT NOT NULL, 
    branch_id BIGINT NOT NULL, 
    patient_id BIGINT, 
    starts_at DATETIME(6) NOT NULL, 
    ends_at DATETIME(6) NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    CONSTRAINT pk_ident_appointments PRIMARY KEY (id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_appointments_doctor ON ident_appointments (doctor_id, branch_id, starts_at);

CREATE INDEX ix_ident_appointments_time ON ident_appointments (starts_at, ends_at);

CREATE INDEX ix_ident_appointments_patient ON ident_appointments (patient_id);

CREATE TABLE ident_patients (
    id BIGINT NOT NULL, 
    surname VARCHAR(100) NOT NULL, 
    name VARCHAR(100) NOT NULL, 
    patronymic VARCHAR(100), 
    phone VARCHAR(16), 
    email VARCHAR(255), 
    address VARCHAR(500), 
    CONSTRAINT pk_ident_patients PRIMARY KEY (id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_patients_phone ON ident_patients (phone);

CREATE TABLE ident_schedule_rules (
    id INTEGER NOT NULL, 
    slot_minutes INTEGER NOT NULL, 
    new_doctors_excluded_since DATETIME(6), 
    updated_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_schedule_rules PRIMARY KEY (id)
)CHARSET=utf8mb4;

CREATE TABLE ident_doctor_export (
    doctor_id BIGINT NOT NULL, 
    exported BOOL NOT NULL, 
    set_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_doctor_export PRIMARY KEY (doctor_id)
)CHARSET=utf8mb4;

UPDATE ident_alembic_version SET version_num='0004' WHERE ident_alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

CREATE TABLE ident_schedule_pushes (
    integration VARCHAR(64) NOT NULL, 
    part VARCHAR(32) NOT NULL, 
    payload_hash CHAR(64) NOT NULL, 
    pushed_at DATETIME(6) NOT NULL, 
    items INTEGER NOT NULL, 
    CONSTRAINT pk_ident_schedule_pushes PRIMARY KEY (integration, part)
)CHARSET=utf8mb4;

UPDATE ident_alembic_version SET version_num='0005' WHERE ident_alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0006

CREATE TABLE ident_geocodes (
    patient_id BIGINT NOT NULL, 
    integration VARCHAR(64) NOT NULL, 
    source_address VARCHAR(500) NOT NULL, 
    result VARCHAR(500), 
    geo_lat NUMERIC(10, 7), 
    geo_lon NUMERIC(10, 7), 
    qc INTEGER, 
    qc_geo INTEGER, 
    qc_complete INTEGER, 
    qc_house INTEGER, 
    distance_km FLOAT, 
    needs_review BOOL NOT NULL, 
    review_reason VARCHAR(255), 
    checked_at DATETIME(6) NOT NULL, 
    raw_payload LONGTEXT NOT NULL, 
    CONSTRAINT pk_ident_geocodes PRIMARY KEY (patient_id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_geocodes_checked ON ident_geocodes (integration, checked_at);

CREATE TABLE ident_service_usage (
    integration VARCHAR(64) NOT NULL, 
    day DATE NOT NULL, 
    requests INTEGER NOT NULL, 
    CONSTRAINT pk_ident_service_usage PRIMARY KEY (integration, day)
)CHARSET=utf8mb4;

UPDATE ident_alembic_version SET version_num='0006' WHERE ident_alembic_version.version_num = '0005';

-- Running upgrade 0006 -> 0007

CREATE TABLE ident_messages (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    integration VARCHAR(64) NOT NULL, 
    channel VARCHAR(8) NOT NULL, 
    template VARCHAR(64) NOT NULL, 
    patient_id BIGINT, 
    recipient VARCHAR(255) NOT NULL, 
    subject VARCHAR(255), 
    text MEDIUMTEXT NOT NULL, 
    smsc_id VARCHAR(40) NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    smsc_status INTEGER, 
    smsc_error INTEGER, 
    status_text VARCHAR(255), 
    cost NUMERIC(10, 2), 
    parts INTEGER, 
    created_at DATETIME(6) NOT NULL, 
    not_before DATETIME(6), 
    sent_at DATETIME(6), 
    status_checked_at DATETIME(6), 
    final_at DATETIME(6), 
    CONSTRAINT pk_ident_messages PRIMARY KEY (id), 
    CONSTRAINT uq_ident_messages_smsc_id UNIQUE (integration, smsc_id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_messages_status ON ident_messages (integration, status);

CREATE TABLE ident_message_visits (
    integration VARCHAR(64) NOT NULL, 
    template VARCHAR(64) NOT NULL, 
    appointment_id BIGINT NOT NULL, 
    message_id BIGINT NOT NULL, 
    CONSTRAINT pk_ident_message_visits PRIMARY KEY (integration, template, appointment_id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_message_visits_message ON ident_message_visits (message_id);

UPDATE ident_alembic_version SET version_num='0007' WHERE ident_alembic_version.version_num = '0006';

-- Running upgrade 0007 -> 0008

CREATE TABLE ident_calendar_events (
    integration VARCHAR(64) NOT NULL, 
    appointment_id BIGINT NOT NULL, 
    calendar_id VARCHAR(255) NOT NULL, 
    event_id VARCHAR(64) NOT NULL, 
    starts_at DATETIME(6) NOT NULL, 
    ends_at DATETIME(6) NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    synced_at DATETIME(6) NOT NULL, 
    CONSTRAINT pk_ident_calendar_events PRIMARY KEY (integration, appointment_id)
)CHARSET=utf8mb4;

CREATE INDEX ix_ident_calendar_events_time ON ident_calendar_events (integration, starts_at);

UPDATE ident_alembic_version SET version_num='0008' WHERE ident_alembic_version.version_num = '0007';

-- Running upgrade 0008 -> 0009

CREATE TABLE ident_alert_state (
    dag_id VARCHAR(250) NOT NULL, 
    first_seen_at DATETIME(6) NOT NULL, 
    last_success_at DATETIME(6), 
    last_success_run_id VARCHAR(250), 
    last_failure_at DATETIME(6), 
    alerted_run_id VARCHAR(250), 
    open_alert VARCHAR(16), 
    open_since DATETIME(6), 
    CONSTRAINT pk_ident_alert_state PRIMARY KEY (dag_id)
)CHARSET=utf8mb4;

UPDATE ident_alembic_version SET version_num='0009' WHERE ident_alembic_version.version_num = '0008';

-- Running upgrade 0009 -> 0010

ALTER TABLE ident_schedule_pushes ADD COLUMN listed MEDIUMTEXT;

UPDATE ident_alembic_version SET version_num='0010' WHERE ident_alembic_version.version_num = '0009';

