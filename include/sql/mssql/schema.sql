-- IDENT database tables written by the integrations (Microsoft SQL Server, IDENT's own engine).
-- Every DATETIME2 is UTC. Safe to run again: each table is created only if missing.
-- Not exercised on the CI machine (no SQL Server there); see README "MSSQL".

IF OBJECT_ID(N'dbo.ident_leads', N'U') IS NULL
CREATE TABLE dbo.ident_leads (
    id BIGINT IDENTITY(1, 1) PRIMARY KEY,
    integration NVARCHAR(64) NOT NULL,
    external_id NVARCHAR(191) COLLATE Latin1_General_100_BIN2 NOT NULL, -- ids are case-sensitive
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
    comment NVARCHAR(MAX) NULL,
    utm_source NVARCHAR(255) NULL,
    utm_medium NVARCHAR(255) NULL,
    utm_campaign NVARCHAR(255) NULL,
    utm_term NVARCHAR(255) NULL,
    utm_content NVARCHAR(255) NULL,
    http_referer NVARCHAR(2000) NULL,
    raw_payload NVARCHAR(MAX) NOT NULL,
    content_hash CHAR(64) NOT NULL,
    first_loaded_at DATETIME2(6) NOT NULL,
    last_loaded_at DATETIME2(6) NOT NULL,
    CONSTRAINT uq_ident_leads_key UNIQUE (integration, external_id, created_at),
    INDEX ix_ident_leads_created (integration, created_at),
    INDEX ix_ident_leads_phone (phone)
);

IF OBJECT_ID(N'dbo.ident_sync_state', N'U') IS NULL
CREATE TABLE dbo.ident_sync_state (
    integration NVARCHAR(64) NOT NULL,
    capability NVARCHAR(32) NOT NULL,
    enabled_on DATE NOT NULL,
    watermark DATETIME2(6) NULL,
    last_window_start DATETIME2(6) NULL,
    last_window_end DATETIME2(6) NULL,
    last_success_at DATETIME2(6) NULL,
    CONSTRAINT pk_ident_sync_state PRIMARY KEY (integration, capability)
);

IF OBJECT_ID(N'dbo.ident_rejects', N'U') IS NULL
CREATE TABLE dbo.ident_rejects (
    id BIGINT IDENTITY(1, 1) PRIMARY KEY,
    integration NVARCHAR(64) NOT NULL,
    capability NVARCHAR(32) NOT NULL,
    record_hash CHAR(64) NOT NULL,
    external_id NVARCHAR(191) NULL,
    raw_payload NVARCHAR(MAX) NOT NULL,
    reason NVARCHAR(MAX) NOT NULL,
    seen_at DATETIME2(6) NOT NULL,
    CONSTRAINT uq_ident_rejects_record UNIQUE (integration, capability, record_hash)
);

IF OBJECT_ID(N'dbo.ident_exchange_log', N'U') IS NULL
CREATE TABLE dbo.ident_exchange_log (
    id BIGINT IDENTITY(1, 1) PRIMARY KEY,
    integration NVARCHAR(64) NOT NULL,
    capability NVARCHAR(32) NOT NULL,
    method NVARCHAR(10) NOT NULL,
    url NVARCHAR(2000) NOT NULL,
    http_status INT NULL,
    duration_ms INT NOT NULL,
    error_text NVARCHAR(MAX) NULL,
    logged_at DATETIME2(6) NOT NULL,
    INDEX ix_ident_exchange_log_time (integration, logged_at)
);
