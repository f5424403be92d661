"""Online calendar: the event each appointment has in its doctor's calendar (``ident_calendar_events``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import Hash, UtcDateTime, Varchar

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ident_calendar_events",
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("calendar_id", Varchar(255), nullable=False),
        sa.Column("event_id", Varchar(64), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("content_hash", Hash(), nullable=False),
        sa.Column("synced_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("integration", "appointment_id", name="pk_ident_calendar_events"),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_ident_calendar_events_time", "ident_calendar_events", ["integration", "starts_at"])


def downgrade() -> None:
    op.drop_index("ix_ident_calendar_events_time", table_name="ident_calendar_events")
    op.drop_table("ident_calendar_events")
