"""The clinic's schedule, which the free-slot export reads: branches, doctors and where they work,
shifts, appointments, patients, and the schedule-export rules (slot length, per-doctor switch).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from ident_integrations.store.types import Id, UtcDateTime, Varchar

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE_OPTIONS = {"mysql_charset": "utf8mb4"}


def _key(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, autoincrement=False)


def upgrade() -> None:
    op.create_table(
        "ident_branches",
        sa.Column("id", Id(), nullable=False, autoincrement=False),
        sa.Column("name", Varchar(255), nullable=False),
        sa.Column("address", Varchar(500)),
        sa.Column("phone", Varchar(32)),
        sa.Column("timezone", Varchar(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ident_branches"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "ident_doctors",
        sa.Column("id", Id(), nullable=False, autoincrement=False),
        sa.Column("name", Varchar(255), nullable=False),
        sa.Column("specialty", Varchar(255)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ident_doctors"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "ident_doctor_branches",
        _key("doctor_id"),
        _key("branch_id"),
        sa.PrimaryKeyConstraint("doctor_id", "branch_id", name="pk_ident_doctor_branches"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_ident_doctor_branches_branch", "ident_doctor_branches", ["branch_id"])
    op.create_table(
        "ident_work_intervals",
        _key("doctor_id"),
        _key("branch_id"),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("doctor_id", "branch_id", "starts_at", name="pk_ident_work_intervals"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_ident_work_intervals_time", "ident_work_intervals", ["starts_at", "ends_at"])
    op.create_table(
        "ident_appointments",
        sa.Column("id", Id(), nullable=False, autoincrement=False),
        _key("doctor_id"),
        _key("branch_id"),
        sa.Column("patient_id", sa.BigInteger()),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("status", Varchar(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ident_appointments"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_ident_appointments_doctor", "ident_appointments", ["doctor_id", "branch_id", "starts_at"])
    op.create_index("ix_ident_appointments_time", "ident_appointments", ["starts_at", "ends_at"])
    op.create_index("ix_ident_appointments_patient", "ident_appointments", ["patient_id"])
    op.create_table(
        "ident_patients",
        sa.Column("id", Id(), nullable=False, autoincrement=False),
        sa.Column("surname", Varchar(100), nullable=False),
        sa.Column("name", Varchar(100), nullable=False),
        sa.Column("patronymic", Varchar(100)),
        sa.Column("phone", Varchar(16)),
        sa.Column("email", Varchar(255)),
        sa.Column("address", Varchar(500)),
        sa.PrimaryKeyConstraint("id", name="pk_ident_patients"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_ident_patients_phone", "ident_patients", ["phone"])
    op.create_table(
        "ident_schedule_rules",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("new_doctors_excluded_since", UtcDateTime()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ident_schedule_rules"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "ident_doctor_export",
        _key("doctor_id"),
        sa.Column("exported", sa.Boolean(), nullable=False),
        sa.Column("set_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("doctor_id", name="pk_ident_doctor_export"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    for table in (
        "ident_doctor_export", "ident_schedule_rules", "ident_patients", "ident_appointments",
        "ident_work_intervals", "ident_doctor_branches", "ident_doctors", "ident_branches",
    ):  # fmt: skip
        op.drop_table(table)
