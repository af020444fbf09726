"""people organisers blocked from the inbox (mao-bot block)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from storage.types import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocked_users",
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("blocked_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("telegram_id", name=op.f("pk_blocked_users")),
    )


def downgrade() -> None:
    op.drop_table("blocked_users")
