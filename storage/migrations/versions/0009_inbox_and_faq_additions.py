"""the inbox (threads with the programme office), FAQ additions, and an index for counting
seats per activity

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from storage.types import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("guesses", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_threads")),
    )
    op.create_index(op.f("ix_inbox_threads_user_id"), "inbox_threads", ["user_id"])
    op.create_index(op.f("ix_inbox_threads_status"), "inbox_threads", ["status"])
    op.create_index(op.f("ix_inbox_threads_updated_at"), "inbox_threads", ["updated_at"])
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("organiser_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("organiser_message_id", sa.BigInteger(), nullable=True),
        sa.Column("user_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("user_message_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["inbox_threads.id"],
            name=op.f("fk_inbox_messages_thread_id_inbox_threads"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
    )
    op.create_index(op.f("ix_inbox_messages_thread_id"), "inbox_messages", ["thread_id"])
    op.create_index(
        "ix_inbox_messages_organiser_copy",
        "inbox_messages",
        ["organiser_chat_id", "organiser_message_id"],
    )
    op.create_index(
        "ix_inbox_messages_user_copy", "inbox_messages", ["user_chat_id", "user_message_id"]
    )
    op.create_table(
        "faq_additions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=True),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_additions")),
        sa.UniqueConstraint(
            "entry_id", "language", "question", name=op.f("uq_faq_additions_entry_id")
        ),
    )
    op.create_index(op.f("ix_faq_additions_entry_id"), "faq_additions", ["entry_id"])
    op.create_index(
        "ix_registrations_activity_status", "registrations", ["activity_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_registrations_activity_status", table_name="registrations")
    op.drop_table("faq_additions")
    op.drop_table("inbox_messages")
    op.drop_table("inbox_threads")
