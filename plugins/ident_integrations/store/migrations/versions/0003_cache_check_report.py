"""The cache check's per-day report (``ident_cache_check_report``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import Day, Id, UtcDateTime, Varchar

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ident_cache_check_report",
        sa.Column("id", Id(), primary_key=True, autoincrement=True),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("capability", Varchar(32), nullable=False),
        sa.Column("day", Day(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("extra", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ident_cache_check_report"),
        mysql_charset="utf8mb4",
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ident_cache_check_report_day", "ident_cache_check_report", ["integration", "capability", "day"])


def downgrade() -> None:
    op.drop_table("ident_cache_check_report")
