"""SMS and e-mail: messages with their SMSC ids and statuses (``ident_messages``) and the visits each
reminds of (``ident_message_visits``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import Id, MediumText, UtcDateTime, Varchar

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ident_messages",
        sa.Column("id", Id(), autoincrement=True, nullable=False),
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("channel", Varchar(8), nullable=False),
        sa.Column("template", Varchar(64), nullable=False),
        sa.Column("patient_id", sa.BigInteger()),
        sa.Column("recipient", Varchar(255), nullable=False),
        sa.Column("subject", Varchar(255)),
        sa.Column("text", MediumText(), nullable=False),
        sa.Column("smsc_id", Varchar(40), nullable=False),
        sa.Column("status", Varchar(16), nullable=False),
        sa.Column("smsc_status", sa.Integer()),
        sa.Column("smsc_error", sa.Integer()),
        sa.Column("status_text", Varchar(255)),
        sa.Column("cost", sa.Numeric(10, 2)),
        sa.Column("parts", sa.Integer()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("not_before", UtcDateTime()),
        sa.Column("sent_at", UtcDateTime()),
        sa.Column("status_checked_at", UtcDateTime()),
        sa.Column("final_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_ident_messages"),
        sa.UniqueConstraint("integration", "smsc_id", name="uq_ident_messages_smsc_id"),
        mysql_charset="utf8mb4",
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ident_messages_status", "ident_messages", ["integration", "status"])
    op.create_table(
        "ident_message_visits",
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("template", Varchar(64), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("integration", "template", "appointment_id", name="pk_ident_message_visits"),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_ident_message_visits_message", "ident_message_visits", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_ident_message_visits_message", table_name="ident_message_visits")
    op.drop_table("ident_message_visits")
    op.drop_index("ix_ident_messages_status", table_name="ident_messages")
    op.drop_table("ident_messages")
