"""Storage for PTB persistence: conversation states and per-user data, as JSON (no pickle).

A conversation state is stored with the time of its last update, {"state": 6, "updated_at":
"2027-03-01T09:00:00+00:00"}: PTB's conversation timeouts are jobs in memory, so after a
restart only this time tells whether a conversation was abandoned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import ConversationState, UserData


@dataclass(frozen=True)
class StoredState:
    state: object
    updated_at: datetime | None  # None: stored before the time was kept


def _decode_state(encoded: str) -> StoredState:
    value = json.loads(encoded)
    # A PTB state is never a dict (it must be hashable), so a dict is the wrapped form.
    if isinstance(value, dict) and "state" in value:
        updated_at = value.get("updated_at")
        return StoredState(
            value["state"], datetime.fromisoformat(updated_at) if updated_at else None
        )
    return StoredState(value, None)


def load_conversations(session: Session, name: str) -> dict[tuple[Any, ...], StoredState]:
    rows = session.scalars(select(ConversationState).where(ConversationState.name == name))
    return {tuple(json.loads(row.key)): _decode_state(row.state) for row in rows}


def save_conversation(
    session: Session, name: str, key: tuple[Any, ...], state: object, now: datetime
) -> None:
    """Store a conversation's state as of `now`; None ends the conversation."""
    encoded_key = json.dumps(list(key))
    row = session.get(ConversationState, (name, encoded_key))
    if state is None:
        if row is not None:
            session.delete(row)
        return
    encoded = json.dumps({"state": state, "updated_at": now.isoformat()})
    if row is None:
        session.add(ConversationState(name=name, key=encoded_key, state=encoded))
    else:
        row.state = encoded


def load_user_data(session: Session) -> dict[int, dict[Any, Any]]:
    return {row.user_id: json.loads(row.data) for row in session.scalars(select(UserData))}


def save_user_data(session: Session, user_id: int, data: dict[Any, Any]) -> None:
    row = session.get(UserData, user_id)
    if not data:
        if row is not None:
            session.delete(row)
        return
    encoded = json.dumps(data, default=str)
    if row is None:
        session.add(UserData(user_id=user_id, data=encoded))
    else:
        row.data = encoded


def drop_user_data(session: Session, user_id: int) -> None:
    session.execute(delete(UserData).where(UserData.user_id == user_id))
