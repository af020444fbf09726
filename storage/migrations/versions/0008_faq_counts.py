"""daily counts of FAQ answer bands, for the organisers' statistics

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "band", name=op.f("pk_faq_counts")),
    )


def downgrade() -> None:
    op.drop_table("faq_counts")
