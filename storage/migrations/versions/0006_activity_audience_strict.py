"""activities strictly for one audience

Revision ID: 0006
Revises: 0005

Existing activities stay open to everyone who signs up (false).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.add_column(
            sa.Column("audience_strict", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("audience_strict")
