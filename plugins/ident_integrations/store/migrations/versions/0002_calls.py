"""Call history: finished calls (``ident_calls``) and the calls in progress (``ident_ongoing_calls``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import CaseSensitiveText, Hash, Id, LongText, UtcDateTime, Varchar

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "sqlite_autoincrement": True}


def _call_columns() -> list[sa.Column]:
    return [
        sa.Column("direction", Varchar(3), nullable=False),
        sa.Column("is_lost", sa.Boolean(), nullable=False),
        sa.Column("contact_phone_raw", Varchar(64)),
        sa.Column("contact_phone", Varchar(16)),
        sa.Column("virtual_phone", Varchar(64)),
        sa.Column("wait_seconds", sa.Integer()),
        sa.Column("talk_seconds", sa.Integer()),
        sa.Column("total_seconds", sa.Integer()),
        sa.Column("finish_reason", Varchar(100)),
        sa.Column("employee_name", Varchar(255)),
        sa.Column("scenario_name", Varchar(255)),
        sa.Column("record_urls", LongText()),
        sa.Column("utm_source", Varchar(255)),
        sa.Column("utm_medium", Varchar(255)),
        sa.Column("utm_campaign", Varchar(255)),
        sa.Column("utm_term", Varchar(255)),
        sa.Column("utm_content", Varchar(255)),
        sa.Column("referrer", Varchar(2000)),
        sa.Column("raw_payload", LongText(), nullable=False),
        sa.Column("content_hash", Hash(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ident_calls",
        sa.Column("id", Id(), primary_key=True, autoincrement=True),
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("external_id", CaseSensitiveText(191), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        *_call_columns(),
        sa.Column("first_loaded_at", UtcDateTime(), nullable=False),
        sa.Column("last_loaded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ident_calls"),
        sa.UniqueConstraint("integration", "external_id", name="uq_ident_calls_key"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_ident_calls_started", "ident_calls", ["integration", "started_at"])
    op.create_index("ix_ident_calls_phone", "ident_calls", ["contact_phone"])
    op.create_table(
        "ident_ongoing_calls",
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("external_id", CaseSensitiveText(191), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        *_call_columns(),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("integration", "external_id", name="pk_ident_ongoing_calls"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("ident_ongoing_calls")
    op.drop_table("ident_calls")
