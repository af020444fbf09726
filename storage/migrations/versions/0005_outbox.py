"""one delivery outbox for notices, reminders and broadcast deliveries

Revision ID: 0005
Revises: 0004

Owed messages still open in the old tables move into the outbox, so nothing owed is lost
by the upgrade; finished broadcast deliveries move too, so their reports stay complete.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from storage.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOTICE_KINDS = {
    "promoted": "promoted",
    "offered": "offered",
    "offer_expired": "offer_expired",
    "activity_cancelled": "activity_cancelled",
}
PRIORITY = {"promoted": 0, "offered": 1, "offer_expired": 1, "activity_cancelled": 1}


def _outbox_table() -> sa.Table:
    return op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("deadline", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("broadcast_id", sa.Integer(), nullable=True),
        sa.Column("offset_seconds", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )


def upgrade() -> None:
    outbox = _outbox_table()
    op.create_index("ix_outbox_claim", "outbox", ["status", "priority", "due_at"])
    op.create_index("ix_outbox_broadcast_status", "outbox", ["broadcast_id", "status"])
    op.create_index(op.f("ix_outbox_user_id"), "outbox", ["user_id"])
    op.create_index(op.f("ix_outbox_activity_id"), "outbox", ["activity_id"])
    op.create_index(op.f("ix_outbox_registration_id"), "outbox", ["registration_id"])

    connection = op.get_bind()
    now = datetime.now(UTC)
    rows: list[dict[str, object]] = []
    notices = connection.execute(
        sa.text(
            "SELECT n.user_id, n.kind, n.activity_id, n.created_at, r.id "
            "FROM notices n LEFT JOIN registrations r "
            "ON r.activity_id = n.activity_id AND r.user_id = n.user_id "
            "WHERE n.claimed_at IS NULL"
        )
    ).all()
    for user_id, kind, activity_id, created_at, registration_id in notices:
        rows.append(
            {
                "user_id": user_id,
                "kind": NOTICE_KINDS.get(kind, "activity_cancelled"),
                "status": "pending",
                "priority": PRIORITY.get(kind, 1),
                "due_at": now,
                "deadline": now + timedelta(days=2),
                "attempts": 0,
                "activity_id": activity_id,
                "registration_id": registration_id,
                "created_at": now,
                "updated_at": now,
            }
        )
    reminders = connection.execute(
        sa.text(
            "SELECT r.id, r.registration_id, r.user_id, r.activity_id, r.offset_seconds, "
            "r.due_at, a.starts_at FROM reminders r JOIN activities a ON a.id = r.activity_id "
            "WHERE r.status = 'planned'"
        )
    ).all()
    for _, registration_id, user_id, activity_id, offset, due_at, starts_at in reminders:
        due = UtcDateTime().process_result_value(due_at, connection.dialect)
        starts = UtcDateTime().process_result_value(starts_at, connection.dialect)
        assert due is not None and starts is not None
        rows.append(
            {
                "user_id": user_id,
                "kind": "reminder",
                "status": "pending",
                "priority": 2,
                "due_at": due,
                "deadline": starts,
                "attempts": 0,
                "activity_id": activity_id,
                "registration_id": registration_id,
                "offset_seconds": offset,
                "dedupe_key": f"reminder:{registration_id}:{offset}:{int(due.timestamp())}",
                "created_at": now,
                "updated_at": now,
            }
        )
    deliveries = connection.execute(
        sa.text("SELECT broadcast_id, user_id, status FROM deliveries")
    ).all()
    for broadcast_id, user_id, status in deliveries:
        rows.append(
            {
                "user_id": user_id,
                "kind": "broadcast",
                "status": "pending" if status in ("pending", "sending") else status,
                "priority": 3,
                "due_at": now,
                "deadline": now + timedelta(days=2),
                "attempts": 0,
                "broadcast_id": broadcast_id,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        columns = [column.name for column in outbox.columns if column.name != "id"]
        op.bulk_insert(outbox, [{name: row.get(name) for name in columns} for row in rows])

    op.drop_table("notices")
    op.drop_table("reminders")
    op.drop_table("deliveries")
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("sender")
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.String(length=16), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the outbox cannot be split back into three tables")
