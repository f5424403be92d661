"""What a schedule push listed (``ident_schedule_pushes.listed``): the next push clears on the
service what has left the export since (a doctor excluded, deactivated or moved off a branch), for a
service that keeps whatever it is not sent again (NaPopravku).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import MediumText

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A JSON list of the service's own keys (NaPopravku: "<mis_clinic_id>/<mis_doctor_id>"); null for
    # a service that replaces its whole snapshot, and for pushes made before this revision.
    op.add_column("ident_schedule_pushes", sa.Column("listed", MediumText(), nullable=True))


def downgrade() -> None:
    op.drop_column("ident_schedule_pushes", "listed")
