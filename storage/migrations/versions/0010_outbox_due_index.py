"""an index of the pending outbox rows, in the order the sender claims them

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    # Partial: only what is still owed, so it stays small however many were sent; with `id`
    # last it gives the claim's full order (no sort of every pending row on PostgreSQL).
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["priority", "due_at", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
