"""per-topic answer counts with "Niet wat ik vroeg" taps, and the topic a missed question got

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_topic_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "entry_id", "outcome", name=op.f("pk_faq_topic_counts")),
    )
    with op.batch_alter_table("faq_misses") as batch:
        batch.add_column(sa.Column("rejected_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faq_misses") as batch:
        batch.drop_column("rejected_id")
    op.drop_table("faq_topic_counts")
