"""The IDENT database's tables, defined once (SQLAlchemy Core). Every date-time column holds UTC.

DDL for MySQL/MariaDB, SQL Server and SQLite comes from SQLAlchemy's dialects. A change here goes
with an Alembic revision in ``store/migrations/versions``; a test checks that the revisions build
exactly these tables, and ``include/sql/<dialect>/schema.sql`` is generated from them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, MetaData, Numeric, Table, UniqueConstraint

from ident_integrations.store.types import (
    CaseSensitiveText,
    Day,
    Hash,
    Id,
    LongText,
    MediumText,
    UtcDateTime,
    Varchar,
)

# utf8mb4 so that names, comments and emoji in payloads survive on MySQL/MariaDB.
MYSQL_TABLE = {"mysql_charset": "utf8mb4", "sqlite_autoincrement": True}

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})


def _integration_columns() -> list[Column]:
    return [
        Column("integration", Varchar(64), nullable=False),
        Column("capability", Varchar(32), nullable=False),
    ]


leads = Table(
    "ident_leads",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=True),
    Column("integration", Varchar(64), nullable=False),
    Column("external_id", CaseSensitiveText(191), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("phone_raw", Varchar(64), nullable=False),
    Column("phone", Varchar(16)),
    Column("full_name", Varchar(255)),
    Column("surname", Varchar(100)),
    Column("name", Varchar(100)),
    Column("patronymic", Varchar(100)),
    Column("email", Varchar(255)),
    Column("form_name", Varchar(255)),
    Column("doctor_id", BigInteger()),
    Column("doctor_name", Varchar(255)),
    Column("plan_start", UtcDateTime()),
    Column("plan_end", UtcDateTime()),
    Column("comment", MediumText()),
    Column("utm_source", Varchar(255)),
    Column("utm_medium", Varchar(255)),
    Column("utm_campaign", Varchar(255)),
    Column("utm_term", Varchar(255)),
    Column("utm_content", Varchar(255)),
    Column("http_referer", Varchar(2000)),
    Column("raw_payload", LongText(), nullable=False),
    Column("content_hash", Hash(), nullable=False),
    Column("first_loaded_at", UtcDateTime(), nullable=False),
    Column("last_loaded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("integration", "external_id", "created_at", name="uq_ident_leads_key"),
    Index("ix_ident_leads_created", "integration", "created_at"),
    Index("ix_ident_leads_phone", "phone"),
    **MYSQL_TABLE,
)

sync_state = Table(
    "ident_sync_state",
    metadata,
    Column("integration", Varchar(64), primary_key=True),
    Column("capability", Varchar(32), primary_key=True),
    Column("enabled_on", Day(), nullable=False),
    Column("watermark", UtcDateTime()),
    Column("last_window_start", UtcDateTime()),
    Column("last_window_end", UtcDateTime()),
    Column("last_success_at", UtcDateTime()),
    **MYSQL_TABLE,
)

rejects = Table(
    "ident_rejects",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=True),
    *_integration_columns(),
    Column("record_hash", Hash(), nullable=False),
    Column("external_id", Varchar(191)),
    Column("raw_payload", LongText(), nullable=False),
    Column("reason", LongText(), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
    UniqueConstraint("integration", "capability", "record_hash", name="uq_ident_rejects_record"),
    **MYSQL_TABLE,
)

exchange_log = Table(
    "ident_exchange_log",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=True),
    *_integration_columns(),
    Column("method", Varchar(10), nullable=False),
    Column("url", Varchar(2000), nullable=False),
    Column("http_status", Integer()),
    Column("duration_ms", Integer(), nullable=False),
    Column("error_text", LongText()),
    Column("logged_at", UtcDateTime(), nullable=False),
    Index("ix_ident_exchange_log_time", "integration", "logged_at"),
    **MYSQL_TABLE,
)


def _call_columns() -> list[Column]:
    """What a call carries, finished or in progress (records/calls.py)."""
    return [
        Column("direction", Varchar(3), nullable=False),
        Column("is_lost", Boolean(), nullable=False),
        Column("contact_phone_raw", Varchar(64)),
        Column("contact_phone", Varchar(16)),
        Column("virtual_phone", Varchar(64)),
        Column("wait_seconds", Integer()),
        Column("talk_seconds", Integer()),
        Column("total_seconds", Integer()),
        Column("finish_reason", Varchar(100)),
        Column("employee_name", Varchar(255)),
        Column("scenario_name", Varchar(255)),
        Column("record_urls", LongText()),  # a JSON array of links
        Column("utm_source", Varchar(255)),
        Column("utm_medium", Varchar(255)),
        Column("utm_campaign", Varchar(255)),
        Column("utm_term", Varchar(255)),
        Column("utm_content", Varchar(255)),
        Column("referrer", Varchar(2000)),
        Column("raw_payload", LongText(), nullable=False),
        Column("content_hash", Hash(), nullable=False),
    ]


# Finished calls only: a call in progress is in ident_ongoing_calls until it finishes.
calls = Table(
    "ident_calls",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=True),
    Column("integration", Varchar(64), nullable=False),
    Column("external_id", CaseSensitiveText(191), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
    *_call_columns(),
    Column("first_loaded_at", UtcDateTime(), nullable=False),
    Column("last_loaded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("integration", "external_id", name="uq_ident_calls_key"),
    Index("ix_ident_calls_started", "integration", "started_at"),
    Index("ix_ident_calls_phone", "contact_phone"),
    **MYSQL_TABLE,
)

# The calls in progress when the integration's last run looked; replaced by every run.
ongoing_calls = Table(
    "ident_ongoing_calls",
    metadata,
    Column("integration", Varchar(64), primary_key=True),
    Column("external_id", CaseSensitiveText(191), primary_key=True),
    Column("started_at", UtcDateTime(), nullable=False),
    *_call_columns(),
    Column("seen_at", UtcDateTime(), nullable=False),
    **MYSQL_TABLE,
)

# The daily cache check's findings: one row per integration, capability and closed day checked.
cache_check_report = Table(
    "ident_cache_check_report",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=True),
    Column("checked_at", UtcDateTime(), nullable=False),
    *_integration_columns(),
    Column("day", Day(), nullable=False),
    Column("fetched", Integer(), nullable=False),  # valid records the service returns for the day now
    Column("stored", Integer(), nullable=False),  # rows the IDENT database had before the check
    Column("missing", Integer(), nullable=False),
    Column("extra", Integer(), nullable=False),
    Column("changed", Integer(), nullable=False),
    Column("repaired", Integer(), nullable=False),
    Index("ix_ident_cache_check_report_day", "integration", "capability", "day"),
    **MYSQL_TABLE,
)

# The clinic's schedule, which the free-slot export reads (records/schedule.py). Ids are IDENT's own
# (no identity columns: rows are written with the ids IDENT gave them). No foreign keys: each table
# is reference data a load writes whole, and the export reads them together.
SCHEDULE_TABLE = {"mysql_charset": "utf8mb4"}

branches = Table(
    "ident_branches",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=False),
    Column("name", Varchar(255), nullable=False),
    Column("address", Varchar(500)),
    Column("phone", Varchar(32)),
    Column("timezone", Varchar(64), nullable=False),  # IANA, e.g. Europe/Moscow
    **SCHEDULE_TABLE,
)

doctors = Table(
    "ident_doctors",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=False),
    Column("name", Varchar(255), nullable=False),  # "Фамилия Имя Отчество"
    Column("specialty", Varchar(255)),
    Column("active", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),  # when added: the new-staff export rule reads it
    **SCHEDULE_TABLE,
)

doctor_branches = Table(
    "ident_doctor_branches",
    metadata,
    Column("doctor_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("branch_id", BigInteger(), primary_key=True),
    Index("ix_ident_doctor_branches_branch", "branch_id"),
    **SCHEDULE_TABLE,
)

# A doctor's shift at a branch, [starts_at, ends_at).
work_intervals = Table(
    "ident_work_intervals",
    metadata,
    Column("doctor_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("branch_id", BigInteger(), primary_key=True),
    Column("starts_at", UtcDateTime(), primary_key=True),
    Column("ends_at", UtcDateTime(), nullable=False),
    Index("ix_ident_work_intervals_time", "starts_at", "ends_at"),
    **SCHEDULE_TABLE,
)

appointments = Table(
    "ident_appointments",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=False),
    Column("doctor_id", BigInteger(), nullable=False),
    Column("branch_id", BigInteger(), nullable=False),
    Column("patient_id", BigInteger()),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("status", Varchar(16), nullable=False),  # records.schedule.AppointmentStatus
    Index("ix_ident_appointments_doctor", "doctor_id", "branch_id", "starts_at"),
    Index("ix_ident_appointments_time", "starts_at", "ends_at"),
    Index("ix_ident_appointments_patient", "patient_id"),
    **SCHEDULE_TABLE,
)

patients = Table(
    "ident_patients",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=False),
    Column("surname", Varchar(100), nullable=False),
    Column("name", Varchar(100), nullable=False),
    Column("patronymic", Varchar(100)),
    Column("phone", Varchar(16)),  # +7XXXXXXXXXX
    Column("email", Varchar(255)),
    Column("address", Varchar(500)),  # as written; the geocoding issue reads it
    Index("ix_ident_patients_phone", "phone"),
    **SCHEDULE_TABLE,
)

# IDENT's "Правила выгрузки расписания": one row (id 1). No row means the defaults: 15-minute slots,
# no doctor excluded yet. ``new_doctors_excluded_since`` is when the first doctor was excluded: a
# doctor added after it starts excluded until switched on (store/schedule.py, resolve_export).
schedule_rules = Table(
    "ident_schedule_rules",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("slot_minutes", Integer(), nullable=False),
    Column("new_doctors_excluded_since", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    **SCHEDULE_TABLE,
)

# The per-doctor export switch, where one was set; a doctor without a row follows the rule above.
doctor_export = Table(
    "ident_doctor_export",
    metadata,
    Column("doctor_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("exported", Boolean(), nullable=False),
    Column("set_at", UtcDateTime(), nullable=False),
    **SCHEDULE_TABLE,
)

# The last successful push of each part of an integration's schedule export ("slots", and a
# service's separate reference data, e.g. NaPopravku's clinics and doctors): an unchanged payload
# is not sent again until ``schedule.force_push_minutes`` have passed.
schedule_pushes = Table(
    "ident_schedule_pushes",
    metadata,
    Column("integration", Varchar(64), primary_key=True),
    Column("part", Varchar(32), primary_key=True),
    Column("payload_hash", Hash(), nullable=False),
    Column("pushed_at", UtcDateTime(), nullable=False),
    Column("items", Integer(), nullable=False),  # slots, intervals or cells the service took
    # What the push listed, for a service that keeps what it is not sent again (migration 0010).
    Column("listed", MediumText(), nullable=True),
    mysql_charset="utf8mb4",
)


# --- Geocoding (capabilities/geocoding.py, migration 0006) ---------------------------------------
# One row per patient: DaData's answer for the address as it was when checked. A patient whose
# current address differs from ``source_address`` is geocoded again.
geocodes = Table(
    "ident_geocodes",
    metadata,
    Column("patient_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("integration", Varchar(64), nullable=False),
    Column("source_address", Varchar(500), nullable=False),  # the patient's address as sent
    Column("result", Varchar(500)),  # DaData's standardised address (null for garbage input)
    Column("geo_lat", Numeric(10, 7)),
    Column("geo_lon", Numeric(10, 7)),
    Column("qc", Integer()),
    Column("qc_geo", Integer()),
    Column("qc_complete", Integer()),
    Column("qc_house", Integer()),
    Column("distance_km", Float()),  # from the clinic's coordinates, where both are known
    Column("needs_review", Boolean(), nullable=False),
    Column("review_reason", Varchar(255)),
    Column("checked_at", UtcDateTime(), nullable=False),
    Column("raw_payload", LongText(), nullable=False),
    Index("ix_ident_geocodes_checked", "integration", "checked_at"),
    mysql_charset="utf8mb4",
)

# Paid requests a service was sent per integration and day (DaData's daily cap, SMSC's spend).
service_usage = Table(
    "ident_service_usage",
    metadata,
    Column("integration", Varchar(64), primary_key=True),
    Column("day", Day(), primary_key=True),
    Column("requests", Integer(), nullable=False),
    mysql_charset="utf8mb4",
)

# --- SMS and e-mail (capabilities/sms.py, sms_status.py, migration 0007) ---------------------------
# One row per message, written (status "pending") before it is sent: a crash between the send and
# the commit leaves the row, and the resend carries the same ``smsc_id`` so SMSC recognises it.
messages = Table(
    "ident_messages",
    metadata,
    Column("id", Id(), primary_key=True, autoincrement=True),
    Column("integration", Varchar(64), nullable=False),
    Column("channel", Varchar(8), nullable=False),  # sms | email
    Column("template", Varchar(64), nullable=False),
    Column("patient_id", BigInteger()),
    Column("recipient", Varchar(255), nullable=False),  # +7XXXXXXXXXX or an e-mail address
    Column("subject", Varchar(255)),
    Column("text", MediumText(), nullable=False),
    Column("smsc_id", Varchar(40), nullable=False),  # our id parameter, fixed before the first send
    Column("status", Varchar(16), nullable=False),  # pending | sent | failed | delivered | undelivered
    Column("smsc_status", Integer()),  # status.php's code
    Column("smsc_error", Integer()),  # send.php's error_code or status.php's err
    Column("status_text", Varchar(255)),  # the readable form of the two above
    Column("cost", Numeric(10, 2)),
    Column("parts", Integer()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("not_before", UtcDateTime()),  # quiet hours: not sent before this
    Column("sent_at", UtcDateTime()),
    Column("status_checked_at", UtcDateTime()),
    Column("final_at", UtcDateTime()),  # when a final delivery status arrived
    UniqueConstraint("integration", "smsc_id", name="uq_ident_messages_smsc_id"),
    Index("ix_ident_messages_status", "integration", "status"),
    **MYSQL_TABLE,
)

# Which visits a message reminds of: the key that makes a reminder go out once per visit and template.
message_visits = Table(
    "ident_message_visits",
    metadata,
    Column("integration", Varchar(64), primary_key=True),
    Column("template", Varchar(64), primary_key=True),
    Column("appointment_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("message_id", BigInteger(), nullable=False),
    Index("ix_ident_message_visits_message", "message_id"),
    mysql_charset="utf8mb4",
)

# --- Online calendar (capabilities/calendar.py, migration 0008) ------------------------------------
# The event each appointment has in its doctor's calendar, as last written: what the next run
# compares with the IDENT database to create, move or delete events.
calendar_events = Table(
    "ident_calendar_events",
    metadata,
    Column("integration", Varchar(64), primary_key=True),
    Column("appointment_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("calendar_id", Varchar(255), nullable=False),
    Column("event_id", Varchar(64), nullable=False),  # derived from the appointment id
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("content_hash", Hash(), nullable=False),  # of the event body: unchanged is not patched
    Column("synced_at", UtcDateTime(), nullable=False),
    Index("ix_ident_calendar_events_time", "integration", "starts_at"),
    mysql_charset="utf8mb4",
)

# --- Alerts (ident_integrations/alerts.py, migration 0009) -----------------------------------------
# Per DAG: its last success and failure, and the alert that is open (a failure or a lag) until the
# DAG succeeds again. The conditional updates on it are what make one alert per failed run.
alert_state = Table(
    "ident_alert_state",
    metadata,
    Column("dag_id", Varchar(250), primary_key=True),
    Column("first_seen_at", UtcDateTime(), nullable=False),  # lag counts from here until a success
    Column("last_success_at", UtcDateTime()),
    Column("last_success_run_id", Varchar(250)),
    Column("last_failure_at", UtcDateTime()),
    Column("alerted_run_id", Varchar(250)),  # the last run a failure alert went out for
    Column("open_alert", Varchar(16)),  # failure | lag | NULL (nothing to recover from)
    Column("open_since", UtcDateTime()),
    mysql_charset="utf8mb4",
)
