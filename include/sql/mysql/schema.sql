-- IDENT database tables written by the integrations (MySQL / MariaDB).
-- Every DATETIME is UTC. Safe to run again: nothing here drops or alters data.

CREATE TABLE IF NOT EXISTS ident_leads (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    integration VARCHAR(64) NOT NULL,
    external_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL, -- ids are case-sensitive
    created_at DATETIME(6) NOT NULL,
    phone_raw VARCHAR(64) NOT NULL,
    phone VARCHAR(16) NULL,
    full_name VARCHAR(255) NULL,
    surname VARCHAR(100) NULL,
    name VARCHAR(100) NULL,
    patronymic VARCHAR(100) NULL,
    email VARCHAR(255) NULL,
    form_name VARCHAR(255) NULL,
    doctor_id BIGINT NULL,
    doctor_name VARCHAR(255) NULL,
    plan_start DATETIME(6) NULL,
    plan_end DATETIME(6) NULL,
    comment MEDIUMTEXT NULL,
    utm_source VARCHAR(255) NULL,
    utm_medium VARCHAR(255) NULL,
    utm_campaign VARCHAR(255) NULL,
    utm_term VARCHAR(255) NULL,
    utm_content VARCHAR(255) NULL,
    http_referer VARCHAR(2000) NULL,
    raw_payload LONGTEXT NOT NULL,
    content_hash CHAR(64) NOT NULL,
    first_loaded_at DATETIME(6) NOT NULL,
    last_loaded_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_ident_leads_key (integration, external_id, created_at),
    KEY ix_ident_leads_created (integration, created_at),
    KEY ix_ident_leads_phone (phone)
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS ident_sync_state (
    integration VARCHAR(64) NOT NULL,
    capability VARCHAR(32) NOT NULL,
    enabled_on DATE NOT NULL,
    watermark DATETIME(6) NULL,
    last_window_start DATETIME(6) NULL,
    last_window_end DATETIME(6) NULL,
    last_success_at DATETIME(6) NULL,
    PRIMARY KEY (integration, capability)
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS ident_rejects (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    integration VARCHAR(64) NOT NULL,
    capability VARCHAR(32) NOT NULL,
    record_hash CHAR(64) NOT NULL,
    external_id VARCHAR(191) NULL,
    raw_payload LONGTEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_ident_rejects_record (integration, capability, record_hash)
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS ident_exchange_log (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    integration VARCHAR(64) NOT NULL,
    capability VARCHAR(32) NOT NULL,
    method VARCHAR(10) NOT NULL,
    url VARCHAR(2000) NOT NULL,
    http_status INT NULL,
    duration_ms INT NOT NULL,
    error_text TEXT NULL,
    logged_at DATETIME(6) NOT NULL,
    KEY ix_ident_exchange_log_time (integration, logged_at)
) DEFAULT CHARSET = utf8mb4;
