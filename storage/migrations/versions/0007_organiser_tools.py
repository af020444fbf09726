"""organiser tools: activities made in chat, check-in, feedback, organisers, richer broadcasts

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from storage.types import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.add_column(sa.Column("changed_in_chat", sa.Text(), nullable=True))
        batch.add_column(sa.Column("created_by", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("checkin_code", sa.String(length=32), nullable=True))
        batch.create_unique_constraint(op.f("uq_activities_checkin_code"), ["checkin_code"])
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("attended", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("checked_in_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("text_en", sa.Text(), nullable=True))
        batch.add_column(sa.Column("scheduled_for", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("signup_activity_id", sa.Integer(), nullable=True))
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_feedback_activity_id_activities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("activity_id", "user_id", name=op.f("uq_feedback_activity_id")),
    )
    op.create_index(op.f("ix_feedback_activity_id"), "feedback", ["activity_id"])
    op.create_index(op.f("ix_feedback_user_id"), "feedback", ["user_id"])
    op.create_table(
        "organisers",
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("telegram_id", name=op.f("pk_organisers")),
    )


def downgrade() -> None:
    op.drop_table("organisers")
    op.drop_table("feedback")
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("signup_activity_id")
        batch.drop_column("scheduled_for")
        batch.drop_column("text_en")
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("checked_in_at")
        batch.drop_column("attended")
    with op.batch_alter_table("activities") as batch:
        batch.drop_constraint(op.f("uq_activities_checkin_code"), type_="unique")
        batch.drop_column("checkin_code")
        batch.drop_column("created_by")
        batch.drop_column("changed_in_chat")
