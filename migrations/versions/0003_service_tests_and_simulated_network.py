"""service tests, quotas and the simulated network

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:31:34.797824
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fiberassure.wholesale.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "simulated_condition",
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("since", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_simulated_condition")),
    )
    op.create_table(
        "service_test_quota_usage",
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("quota", sa.String(length=150), nullable=False),
        sa.Column(
            "window_start", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operator.id"],
            name=op.f("fk_service_test_quota_usage_operator_id_operator"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "operator_id", "quota", "window_start", name=op.f("pk_service_test_quota_usage")
        ),
    )
    op.create_table(
        "service_test",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("specification_id", sa.String(length=64), nullable=False),
        sa.Column("specification_version", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "start_date_time", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "end_date_time", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("ont_serial_number", sa.String(length=32), nullable=False),
        sa.Column("test_measures", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("failure_reason", sa.JSON(), nullable=True),
        sa.Column(
            "valid_until", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "quota_day_start", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "quota_hour_start", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("quota_refunded", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operator.id"], name=op.f("fk_service_test_operator_id_operator")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_service_test_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_test")),
    )
    with op.batch_alter_table("service_test", schema=None) as batch_op:
        batch_op.create_index(
            "ix_service_test_operator_start", ["operator_id", "start_date_time"], unique=False
        )
        batch_op.create_index(
            "ix_service_test_service_state_end",
            ["service_id", "state", "end_date_time"],
            unique=False,
        )

    op.create_table(
        "service_test_job",
        sa.Column("service_test_id", sa.String(length=36), nullable=False),
        sa.Column("due_at", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "lease_until", fiberassure.wholesale.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_test_id"],
            ["service_test.id"],
            name=op.f("fk_service_test_job_service_test_id_service_test"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_test_id", name=op.f("pk_service_test_job")),
    )
    with op.batch_alter_table("service_test_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_test_job_due_at"), ["due_at"], unique=False)

    with op.batch_alter_table("operator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("test_quota_per_day", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("test_quota_per_service_per_hour", sa.Integer(), nullable=True)
        )

    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.create_index("ix_service_olt_pon", ["olt_name", "pon_port"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_index("ix_service_olt_pon")

    with op.batch_alter_table("operator", schema=None) as batch_op:
        batch_op.drop_column("test_quota_per_service_per_hour")
        batch_op.drop_column("test_quota_per_day")

    with op.batch_alter_table("service_test_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_test_job_due_at"))

    op.drop_table("service_test_job")
    with op.batch_alter_table("service_test", schema=None) as batch_op:
        batch_op.drop_index("ix_service_test_service_state_end")
        batch_op.drop_index("ix_service_test_operator_start")

    op.drop_table("service_test")
    op.drop_table("service_test_quota_usage")
    op.drop_table("simulated_condition")
