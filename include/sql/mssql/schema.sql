BEGIN TRANSACTION;

CREATE TABLE ident_alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT ident_alembic_version_pkc PRIMARY KEY (version_num)
);

GO

-- Running upgrade  -> 0001

CREATE TABLE ident_leads (
    id BIGINT NOT NULL IDENTITY, 
    integration NVARCHAR(64) NOT NULL, 
    external_id NVARCHAR(191) COLLATE Latin1_General_100_BIN2 NOT NULL, 
    created_at DATETIME2(6) NOT NULL, 
    phone_raw NVARCHAR(64) NOT NULL, 
    phone NVARCHAR(16) NULL, 
    full_name NVARCHAR(255) NULL, 
    surname NVARCHAR(100) NULL, 
    name NVARCHAR(100) NULL, 
    patronymic NVARCHAR(100) NULL, 
    email NVARCHAR(255) NULL, 
    form_name NVARCHAR(255) NULL, 
    doctor_id BIGINT NULL, 
    doctor_name NVARCHAR(255) NULL, 
    plan_start DATETIME2(6) NULL, 
    plan_end DATETIME2(6) NULL, 
    comment NVARCHAR(max) NULL, 
    utm_source NVARCHAR(255) NULL, 
    utm_medium NVARCHAR(255) NULL, 
    utm_campaign NVARCHAR(255) NULL, 
    utm_term NVARCHAR(255) NULL, 
    utm_content NVARCHAR(255) NULL, 
    http_referer NVARCHAR(2000) NULL, 
    raw_payload NVARCHAR(max) NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    first_loaded_at DATETIME2(6) NOT NULL, 
    last_loaded_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_leads PRIMARY KEY (id), 
    CONSTRAINT uq_ident_leads_key UNIQUE (integration, external_id, created_at)
);

GO

CREATE INDEX ix_ident_leads_created ON ident_leads (integration, created_at);

GO

CREATE INDEX ix_ident_leads_phone ON ident_leads (phone);

GO

CREATE TABLE ident_sync_state (
    integration NVARCHAR(64) NOT NULL, 
    capability NVARCHAR(32) NOT NULL, 
    enabled_on DATE NOT NULL, 
    watermark DATETIME2(6) NULL, 
    last_window_start DATETIME2(6) NULL, 
    last_window_end DATETIME2(6) NULL, 
    last_success_at DATETIME2(6) NULL, 
    CONSTRAINT pk_ident_sync_state PRIMARY KEY (integration, capability)
);

GO

CREATE TABLE ident_rejects (
    id BIGINT NOT NULL IDENTITY, 
    integration NVARCHAR(64) NOT NULL, 
    capability NVARCHAR(32) NOT NULL, 
    record_hash CHAR(64) NOT NULL, 
    external_id NVARCHAR(191) NULL, 
    raw_payload NVARCHAR(max) NOT NULL, 
    reason NVARCHAR(max) NOT NULL, 
    seen_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_rejects PRIMARY KEY (id), 
    CONSTRAINT uq_ident_rejects_record UNIQUE (integration, capability, record_hash)
);

GO

CREATE TABLE ident_exchange_log (
    id BIGINT NOT NULL IDENTITY, 
    integration NVARCHAR(64) NOT NULL, 
    capability NVARCHAR(32) NOT NULL, 
    method NVARCHAR(10) NOT NULL, 
    url NVARCHAR(2000) NOT NULL, 
    http_status INTEGER NULL, 
    duration_ms INTEGER NOT NULL, 
    error_text NVARCHAR(max) NULL, 
    logged_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_exchange_log PRIMARY KEY (id)
);

GO

CREATE INDEX ix_ident_exchange_log_time ON ident_exchange_log (integration, logged_at);

GO

INSERT INTO ident_alembic_version (version_num) OUTPUT inserted.version_num VALUES ('0001');

GO

-- Running upgrade 0001 -> 0002

CREATE TABLE ident_calls (
    id BIGINT NOT NULL IDENTITY, 
    integration NVARCHAR(64) NOT NULL, 
    external_id NVARCHAR(191) COLLATE Latin1_General_100_BIN2 NOT NULL, 
    started_at DATETIME2(6) NOT NULL, 
    finished_at DATETIME2(6) NOT NULL, 
    direction NVARCHAR(3) NOT NULL, 
    is_lost BIT NOT NULL, 
    contact_phone_raw NVARCHAR(64) NULL, 
    contact_phone NVARCHAR(16) NULL, 
    virtual_phone NVARCHAR(64) NULL, 
    wait_seconds INTEGER NULL, 
    talk_seconds INTEGER NULL, 
    total_seconds INTEGER NULL, 
    finish_reason NVARCHAR(100) NULL, 
    employee_name NVARCHAR(255) NULL, 
    scenario_name NVARCHAR(255) NULL, 
    record_urls NVARCHAR(max) NULL, 
    utm_source NVARCHAR(255) NULL, 
    utm_medium NVARCHAR(255) NULL, 
    utm_campaign NVARCHAR(255) NULL, 
    utm_term NVARCHAR(255) NULL, 
    utm_content NVARCHAR(255) NULL, 
    referrer NVARCHAR(2000) NULL, 
    raw_payload NVARCHAR(max) NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    first_loaded_at DATETIME2(6) NOT NULL, 
    last_loaded_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_calls PRIMARY KEY (id), 
    CONSTRAINT uq_ident_calls_key UNIQUE (integration, external_id)
);

GO

CREATE INDEX ix_ident_calls_started ON ident_calls (integration, started_at);

GO

CREATE INDEX ix_ident_calls_phone ON ident_calls (contact_phone);

GO

CREATE TABLE ident_ongoing_calls (
    integration NVARCHAR(64) NOT NULL, 
    external_id NVARCHAR(191) COLLATE Latin1_General_100_BIN2 NOT NULL, 
    started_at DATETIME2(6) NOT NULL, 
    direction NVARCHAR(3) NOT NULL, 
    is_lost BIT NOT NULL, 
    contact_phone_raw NVARCHAR(64) NULL, 
    contact_phone NVARCHAR(16) NULL, 
    virtual_phone NVARCHAR(64) NULL, 
    wait_seconds INTEGER NULL, 
    talk_seconds INTEGER NULL, 
    total_seconds INTEGER NULL, 
    finish_reason NVARCHAR(100) NULL, 
    employee_name NVARCHAR(255) NULL, 
    scenario_name NVARCHAR(255) NULL, 
    record_urls NVARCHAR(max) NULL, 
    utm_source NVARCHAR(255) NULL, 
    utm_medium NVARCHAR(255) NULL, 
    utm_campaign NVARCHAR(255) NULL, 
    utm_term NVARCHAR(255) NULL, 
    utm_content NVARCHAR(255) NULL, 
    referrer NVARCHAR(2000) NULL, 
    raw_payload NVARCHAR(max) NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    seen_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_ongoing_calls PRIMARY KEY (integration, external_id)
);

GO

UPDATE ident_alembic_version SET version_num='0002' WHERE ident_alembic_version.version_num = '0001';

GO

-- Running upgrade 0002 -> 0003

CREATE TABLE ident_cache_check_report (
    id BIGINT NOT NULL IDENTITY, 
    checked_at DATETIME2(6) NOT NULL, 
    integration NVARCHAR(64) NOT NULL, 
    capability NVARCHAR(32) NOT NULL, 
    day DATE NOT NULL, 
    fetched INTEGER NOT NULL, 
    stored INTEGER NOT NULL, 
    missing INTEGER NOT NULL, 
    extra INTEGER NOT NULL, 
    changed INTEGER NOT NULL, 
    repaired INTEGER NOT NULL, 
    CONSTRAINT pk_ident_cache_check_report PRIMARY KEY (id)
);

GO

CREATE INDEX ix_ident_cache_check_report_day ON ident_cache_check_report (integration, capability, day);

GO

UPDATE ident_alembic_version SET version_num='0003' WHERE ident_alembic_version.version_num = '0002';

GO

-- Running upgrade 0003 -> 0004

CREATE TABLE ident_branches (
    id BIGINT NOT NULL, 
    name NVARCHAR(255) NOT NULL, 
    address NVARCHAR(500) NULL, 
    phone NVARCHAR(32) NULL, 
    timezone NVARCHAR(64) NOT NULL, 
    CONSTRAINT pk_ident_branches PRIMARY KEY (id)
);

GO

CREATE TABLE ident_doctors (
    id BIGINT NOT NULL, 
    name NVARCHAR(255) NOT NULL, 
    specialty NVARCHAR(255) NULL, 
    active BIT NOT NULL, 
    created_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_doctors PRIMARY KEY (id)
);

GO

CREATE TABLE ident_doctor_branches (
    doctor_id BIGINT NOT NULL, 
    branch_id BIGINT NOT NULL, 
    CONSTRAINT pk_ident_doctor_branches PRIMARY KEY (doctor_id, branch_id)
);

GO

CREATE INDEX ix_ident_doctor_branches_branch ON ident_doctor_branches (branch_id);

GO

CREATE TABLE ident_work_intervals (
    doctor_id BIGINT NOT NULL, 
    branch_id BIGINT NOT NULL, 
    starts_at DATETIME2(6) NOT NULL, 
    ends_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_work_intervals PRIMARY KEY (doctor_id, branch_id, starts_at)
);

GO

CREATE INDEX ix_ident_work_intervals_time ON ident_work_intervals (starts_at, ends_at);

GO

CREATE TABLE ident_appointments (
    id BIGINT NOT NULL, 
    doctor_id BIGINT NOT NULL, 
    branch_id BIGINT NOT NULL, 
    patient_id BIGINT NULL, 
    starts_at DATETIME2(6) NOT NULL, 
    ends_at DATETIME2(6) NOT NULL, 
    status NVARCHAR(16) NOT NULL, 
    CONSTRAINT pk_ident_appointments PRIMARY KEY (id)
);

GO

CREATE INDEX ix_ident_appointments_doctor ON ident_appointments (doctor_id, branch_id, starts_at);

GO

CREATE INDEX ix_ident_appointments_time ON ident_appointments (starts_at, ends_at);

GO

CREATE INDEX ix_ident_appointments_patient ON ident_appointments (patient_id);

GO

CREATE TABLE ident_patients (
    id BIGINT NOT NULL, 
    surname NVARCHAR(100) NOT NULL, 
    name NVARCHAR(100) NOT NULL, 
    patronymic NVARCHAR(100) NULL, 
    phone NVARCHAR(16) NULL, 
    email NVARCHAR(255) NULL, 
    address NVARCHAR(500) NULL, 
    CONSTRAINT pk_ident_patients PRIMARY KEY (id)
);

GO

CREATE INDEX ix_ident_patients_phone ON ident_patients (phone);

GO

CREATE TABLE ident_schedule_rules (
    id INTEGER NOT NULL, 
    slot_minutes INTEGER NOT NULL, 
    new_doctors_excluded_since DATETIME2(6) NULL, 
    updated_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_schedule_rules PRIMARY KEY (id)
);

GO

CREATE TABLE ident_doctor_export (
    doctor_id BIGINT NOT NULL, 
    exported BIT NOT NULL, 
    set_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_doctor_export PRIMARY KEY (doctor_id)
);

GO

UPDATE ident_alembic_version SET version_num='0004' WHERE ident_alembic_version.version_num = '0003';

GO

-- Running upgrade 0004 -> 0005

CREATE TABLE ident_schedule_pushes (
    integration NVARCHAR(64) NOT NULL, 
    part NVARCHAR(32) NOT NULL, 
    payload_hash CHAR(64) NOT NULL, 
    pushed_at DATETIME2(6) NOT NULL, 
    items INTEGER NOT NULL, 
    CONSTRAINT pk_ident_schedule_pushes PRIMARY KEY (integration, part)
);

GO

UPDATE ident_alembic_version SET version_num='0005' WHERE ident_alembic_version.version_num = '0004';

GO

-- Running upgrade 0005 -> 0006

CREATE TABLE ident_geocodes (
    patient_id BIGINT NOT NULL, 
    integration NVARCHAR(64) NOT NULL, 
    source_address NVARCHAR(500) NOT NULL, 
    result NVARCHAR(500) NULL, 
    geo_lat NUMERIC(10, 7) NULL, 
    geo_lon NUMERIC(10, 7) NULL, 
    qc INTEGER NULL, 
    qc_geo INTEGER NULL, 
    qc_complete INTEGER NULL, 
    qc_house INTEGER NULL, 
    distance_km FLOAT NULL, 
    needs_review BIT NOT NULL, 
    review_reason NVARCHAR(255) NULL, 
    checked_at DATETIME2(6) NOT NULL, 
    raw_payload NVARCHAR(max) NOT NULL, 
    CONSTRAINT pk_ident_geocodes PRIMARY KEY (patient_id)
);

GO

CREATE INDEX ix_ident_geocodes_checked ON ident_geocodes (integration, checked_at);

GO

CREATE TABLE ident_service_usage (
    integration NVARCHAR(64) NOT NULL, 
    day DATE NOT NULL, 
    requests INTEGER NOT NULL, 
    CONSTRAINT pk_ident_service_usage PRIMARY KEY (integration, day)
);

GO

UPDATE ident_alembic_version SET version_num='0006' WHERE ident_alembic_version.version_num = '0005';

GO

-- Running upgrade 0006 -> 0007

CREATE TABLE ident_messages (
    id BIGINT NOT NULL IDENTITY, 
    integration NVARCHAR(64) NOT NULL, 
    channel NVARCHAR(8) NOT NULL, 
    template NVARCHAR(64) NOT NULL, 
    patient_id BIGINT NULL, 
    recipient NVARCHAR(255) NOT NULL, 
    subject NVARCHAR(255) NULL, 
    text NVARCHAR(max) NOT NULL, 
    smsc_id NVARCHAR(40) NOT NULL, 
    status NVARCHAR(16) NOT NULL, 
    smsc_status INTEGER NULL, 
    smsc_error INTEGER NULL, 
    status_text NVARCHAR(255) NULL, 
    cost NUMERIC(10, 2) NULL, 
    parts INTEGER NULL, 
    created_at DATETIME2(6) NOT NULL, 
    not_before DATETIME2(6) NULL, 
    sent_at DATETIME2(6) NULL, 
    status_checked_at DATETIME2(6) NULL, 
    final_at DATETIME2(6) NULL, 
    CONSTRAINT pk_ident_messages PRIMARY KEY (id), 
    CONSTRAINT uq_ident_messages_smsc_id UNIQUE (integration, smsc_id)
);

GO

CREATE INDEX ix_ident_messages_status ON ident_messages (integration, status);

GO

CREATE TABLE ident_message_visits (
    integration NVARCHAR(64) NOT NULL, 
    template NVARCHAR(64) NOT NULL, 
    appointment_id BIGINT NOT NULL, 
    message_id BIGINT NOT NULL, 
    CONSTRAINT pk_ident_message_visits PRIMARY KEY (integration, template, appointment_id)
);

GO

CREATE INDEX ix_ident_message_visits_message ON ident_message_visits (message_id);

GO

UPDATE ident_alembic_version SET version_num='0007' WHERE ident_alembic_version.version_num = '0006';

GO

-- Running upgrade 0007 -> 0008

CREATE TABLE ident_calendar_events (
    integration NVARCHAR(64) NOT NULL, 
    appointment_id BIGINT NOT NULL, 
    calendar_id NVARCHAR(255) NOT NULL, 
    event_id NVARCHAR(64) NOT NULL, 
    starts_at DATETIME2(6) NOT NULL, 
    ends_at DATETIME2(6) NOT NULL, 
    content_hash CHAR(64) NOT NULL, 
    synced_at DATETIME2(6) NOT NULL, 
    CONSTRAINT pk_ident_calendar_events PRIMARY KEY (integration, appointment_id)
);

GO

CREATE INDEX ix_ident_calendar_events_time ON ident_calendar_events (integration, starts_at);

GO

UPDATE ident_alembic_version SET version_num='0008' WHERE ident_alembic_version.version_num = '0007';

GO

-- Running upgrade 0008 -> 0009

CREATE TABLE ident_alert_state (
    dag_id NVARCHAR(250) NOT NULL, 
    first_seen_at DATETIME2(6) NOT NULL, 
    last_success_at DATETIME2(6) NULL, 
    last_success_run_id NVARCHAR(250) NULL, 
    last_failure_at DATETIME2(6) NULL, 
    alerted_run_id NVARCHAR(250) NULL, 
    open_alert NVARCHAR(16) NULL, 
    open_since DATETIME2(6) NULL, 
    CONSTRAINT pk_ident_alert_state PRIMARY KEY (dag_id)
);

GO

UPDATE ident_alembic_version SET version_num='0009' WHERE ident_alembic_version.version_num = '0008';

GO

-- Running upgrade 0009 -> 0010

ALTER TABLE ident_schedule_pushes ADD listed NVARCHAR(max) NULL;

GO

UPDATE ident_alembic_version SET version_num='0010' WHERE ident_alembic_version.version_num = '0009';

GO

COMMIT;

GO

