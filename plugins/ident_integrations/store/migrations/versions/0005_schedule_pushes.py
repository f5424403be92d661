"""The schedule export's last successful push per integration and part (``ident_schedule_pushes``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import Hash, UtcDateTime, Varchar

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ident_schedule_pushes",
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("part", Varchar(32), nullable=False),
        sa.Column("payload_hash", Hash(), nullable=False),
        sa.Column("pushed_at", UtcDateTime(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("integration", "part", name="pk_ident_schedule_pushes"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("ident_schedule_pushes")
