"""Storage for PTB persistence: conversation states and per-user data, as JSON (no pickle)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import ConversationState, UserData


def load_conversations(session: Session, name: str) -> dict[tuple[Any, ...], object]:
    rows = session.scalars(select(ConversationState).where(ConversationState.name == name))
    return {tuple(json.loads(row.key)): json.loads(row.state) for row in rows}


def save_conversation(session: Session, name: str, key: tuple[Any, ...], state: object) -> None:
    encoded_key = json.dumps(list(key))
    row = session.get(ConversationState, (name, encoded_key))
    if state is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(ConversationState(name=name, key=encoded_key, state=json.dumps(state)))
    else:
        row.state = json.dumps(state)


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
