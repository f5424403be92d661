"""Alerts: per DAG its last success and failure and the open alert (``ident_alert_state``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import UtcDateTime, Varchar

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ident_alert_state",
        sa.Column("dag_id", Varchar(250), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_success_at", UtcDateTime(), nullable=True),
        sa.Column("last_success_run_id", Varchar(250), nullable=True),
        sa.Column("last_failure_at", UtcDateTime(), nullable=True),
        sa.Column("alerted_run_id", Varchar(250), nullable=True),
        sa.Column("open_alert", Varchar(16), nullable=True),
        sa.Column("open_since", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("dag_id", name="pk_ident_alert_state"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("ident_alert_state")
