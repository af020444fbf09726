"""FAQ additions remember whose words they are (erased with that person), and their ids are
never reused

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite: the table is copied to make its ids AUTOINCREMENT (PostgreSQL's sequence never
    # hands an id out twice).
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "faq_additions",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch:
        batch.add_column(sa.Column("source_user_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("source_thread_id", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_faq_additions_source_user_id"), ["source_user_id"])
        batch.create_index(op.f("ix_faq_additions_source_thread_id"), ["source_thread_id"])


def downgrade() -> None:
    with op.batch_alter_table("faq_additions") as batch:
        batch.drop_index(op.f("ix_faq_additions_source_thread_id"))
        batch.drop_index(op.f("ix_faq_additions_source_user_id"))
        batch.drop_column("source_thread_id")
        batch.drop_column("source_user_id")
