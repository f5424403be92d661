"""Baseline: the four tables the foundation created (leads, sync state, rejects, exchange log).

A database made by the foundation's ``CREATE TABLE IF NOT EXISTS`` files already has them: each
table that exists is adopted as it is (its rows untouched), and only missing ones are created.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import context, op

from ident_integrations.store.types import CaseSensitiveText, Day, Hash, Id, LongText, MediumText, UtcDateTime, Varchar

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "sqlite_autoincrement": True}


def _missing(name: str) -> bool:
    if context.is_offline_mode():  # a script for a DBA starts from an empty database
        return True
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("ident_leads"):
        op.create_table(
            "ident_leads",
            sa.Column("id", Id(), primary_key=True, autoincrement=True),
            sa.Column("integration", Varchar(64), nullable=False),
            sa.Column("external_id", CaseSensitiveText(191), nullable=False),
            sa.Column("created_at", UtcDateTime(), nullable=False),
            sa.Column("phone_raw", Varchar(64), nullable=False),
            sa.Column("phone", Varchar(16)),
            sa.Column("full_name", Varchar(255)),
            sa.Column("surname", Varchar(100)),
            sa.Column("name", Varchar(100)),
            sa.Column("patronymic", Varchar(100)),
            sa.Column("email", Varchar(255)),
            sa.Column("form_name", Varchar(255)),
            sa.Column("doctor_id", sa.BigInteger()),
            sa.Column("doctor_name", Varchar(255)),
            sa.Column("plan_start", UtcDateTime()),
            sa.Column("plan_end", UtcDateTime()),
            sa.Column("comment", MediumText()),
            sa.Column("utm_source", Varchar(255)),
            sa.Column("utm_medium", Varchar(255)),
            sa.Column("utm_campaign", Varchar(255)),
            sa.Column("utm_term", Varchar(255)),
            sa.Column("utm_content", Varchar(255)),
            sa.Column("http_referer", Varchar(2000)),
            sa.Column("raw_payload", LongText(), nullable=False),
            sa.Column("content_hash", Hash(), nullable=False),
            sa.Column("first_loaded_at", UtcDateTime(), nullable=False),
            sa.Column("last_loaded_at", UtcDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_ident_leads"),
            sa.UniqueConstraint("integration", "external_id", "created_at", name="uq_ident_leads_key"),
            **TABLE_OPTIONS,
        )
        op.create_index("ix_ident_leads_created", "ident_leads", ["integration", "created_at"])
        op.create_index("ix_ident_leads_phone", "ident_leads", ["phone"])
    if _missing("ident_sync_state"):
        op.create_table(
            "ident_sync_state",
            sa.Column("integration", Varchar(64), nullable=False),
            sa.Column("capability", Varchar(32), nullable=False),
            sa.Column("enabled_on", Day(), nullable=False),
            sa.Column("watermark", UtcDateTime()),
            sa.Column("last_window_start", UtcDateTime()),
            sa.Column("last_window_end", UtcDateTime()),
            sa.Column("last_success_at", UtcDateTime()),
            sa.PrimaryKeyConstraint("integration", "capability", name="pk_ident_sync_state"),
            **TABLE_OPTIONS,
        )
    if _missing("ident_rejects"):
        op.create_table(
            "ident_rejects",
            sa.Column("id", Id(), primary_key=True, autoincrement=True),
            sa.Column("integration", Varchar(64), nullable=False),
            sa.Column("capability", Varchar(32), nullable=False),
            sa.Column("record_hash", Hash(), nullable=False),
            sa.Column("external_id", Varchar(191)),
            sa.Column("raw_payload", LongText(), nullable=False),
            sa.Column("reason", LongText(), nullable=False),
            sa.Column("seen_at", UtcDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_ident_rejects"),
            sa.UniqueConstraint("integration", "capability", "record_hash", name="uq_ident_rejects_record"),
            **TABLE_OPTIONS,
        )
    if _missing("ident_exchange_log"):
        op.create_table(
            "ident_exchange_log",
            sa.Column("id", Id(), primary_key=True, autoincrement=True),
            sa.Column("integration", Varchar(64), nullable=False),
            sa.Column("capability", Varchar(32), nullable=False),
            sa.Column("method", Varchar(10), nullable=False),
            sa.Column("url", Varchar(2000), nullable=False),
            sa.Column("http_status", sa.Integer()),
            sa.Column("duration_ms", sa.Integer(), nullable=False),
            sa.Column("error_text", LongText()),
            sa.Column("logged_at", UtcDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_ident_exchange_log"),
            **TABLE_OPTIONS,
        )
        op.create_index("ix_ident_exchange_log_time", "ident_exchange_log", ["integration", "logged_at"])


def downgrade() -> None:
    for table in ("ident_exchange_log", "ident_rejects", "ident_sync_state", "ident_leads"):
        op.drop_table(table)
