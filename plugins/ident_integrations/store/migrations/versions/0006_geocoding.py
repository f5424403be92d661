"""Geocoding: DaData's answer per patient (``ident_geocodes``) and paid requests per day
(``ident_service_usage``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import Day, LongText, UtcDateTime, Varchar

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ident_geocodes",
        sa.Column("patient_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("source_address", Varchar(500), nullable=False),
        sa.Column("result", Varchar(500)),
        sa.Column("geo_lat", sa.Numeric(10, 7)),
        sa.Column("geo_lon", sa.Numeric(10, 7)),
        sa.Column("qc", sa.Integer()),
        sa.Column("qc_geo", sa.Integer()),
        sa.Column("qc_complete", sa.Integer()),
        sa.Column("qc_house", sa.Integer()),
        sa.Column("distance_km", sa.Float()),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("review_reason", Varchar(255)),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("raw_payload", LongText(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", name="pk_ident_geocodes"),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_ident_geocodes_checked", "ident_geocodes", ["integration", "checked_at"])
    op.create_table(
        "ident_service_usage",
        sa.Column("integration", Varchar(64), nullable=False),
        sa.Column("day", Day(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("integration", "day", name="pk_ident_service_usage"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("ident_service_usage")
    op.drop_index("ix_ident_geocodes_checked", table_name="ident_geocodes")
    op.drop_table("ident_geocodes")
