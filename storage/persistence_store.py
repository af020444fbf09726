"""Storage for PTB persistence: conversation states and per-user data, as JSON (no pickle).

A conversation state is stored with the time of its last update, {"state": 6, "updated_at":
"2027-03-01T09:00:00+00:00"}: PTB's conversation timeouts are jobs in memory, so after a
restart (or on another instance) only this time tells whether a conversation was abandoned.

The bot reads one user's rows before each of their updates and writes them right after it
(bot/persistence.py), so any instance can serve any update: nothing is loaded in bulk.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from storage.db import insert_for
from storage.models import ConversationState, UserData

ConversationRef = tuple[str, tuple[Any, ...]]  # (conversation name, PTB's key)


@dataclass(frozen=True)
class StoredState:
    state: object
    updated_at: datetime | None  # None: stored before the time was kept


@dataclass(frozen=True)
class UserState:
    """One user's stored conversations (only those going on) and user data (None: no row)."""

    conversations: dict[ConversationRef, StoredState]
    user_data: dict[Any, Any] | None


def _decode_state(encoded: str) -> StoredState:
    value = json.loads(encoded)
    # A PTB state is never a dict (it must be hashable), so a dict is the wrapped form.
    if isinstance(value, dict) and "state" in value:
        updated_at = value.get("updated_at")
        return StoredState(
            value["state"], datetime.fromisoformat(updated_at) if updated_at else None
        )
    return StoredState(value, None)


def _encode_key(key: tuple[Any, ...]) -> str:
    return json.dumps(list(key))


def encode_user_data(data: Mapping[Any, Any]) -> str:
    return json.dumps(data, default=str)


# Every update reads and writes a user's state: its statements are built once (per dialect)
# and run on the session's connection. Built per call and run through the ORM session, they
# cost more CPU than the database takes to run them.
_STATES = select(ConversationState.name, ConversationState.key, ConversationState.state).where(
    ConversationState.name.in_(bindparam("names", expanding=True)),
    ConversationState.key.in_(bindparam("keys", expanding=True)),
)
_USER_DATA = select(UserData.data).where(UserData.user_id == bindparam("user_id"))


@functools.cache
def _upsert_statement(
    dialect: str, model: Any, names: tuple[str, ...], keys: tuple[str, ...]
) -> Any:
    # Bound as "v_<column>": SQLAlchemy keeps a column's own name for itself in VALUES.
    statement = insert_for(dialect)(model).values({name: bindparam(f"v_{name}") for name in names})
    changed = {name: statement.excluded[name] for name in names if name not in keys}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changed)


def _upsert(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE: two instances writing the same row never collide."""
    dialect = session.get_bind().dialect.name
    statement = _upsert_statement(dialect, model, tuple(values), tuple(keys))
    session.connection().execute(statement, {f"v_{name}": value for name, value in values.items()})


def load_user_state(session: Session, user_id: int, refs: Sequence[ConversationRef]) -> UserState:
    """The conversations `refs` (those stored) and the user data of one user."""
    conversations: dict[ConversationRef, StoredState] = {}
    if refs:
        wanted = {(name, _encode_key(key)): (name, key) for name, key in refs}
        # Names IN and keys IN (the primary key serves both; in a private chat every
        # conversation has the same key), pairs sorted out here: building an OR of
        # (name, key) pairs for every update cost more than the query itself.
        names = sorted({name for name, _ in wanted})
        keys = sorted({key for _, key in wanted})
        rows = session.connection().execute(_STATES, {"names": names, "keys": keys})
        for name, key, state in rows:
            ref = wanted.get((name, key))
            if ref is not None:
                conversations[ref] = _decode_state(state)
    encoded = session.connection().execute(_USER_DATA, {"user_id": user_id}).scalar()
    return UserState(conversations, json.loads(encoded) if encoded is not None else None)


def save_user_state(
    session: Session,
    user_id: int,
    conversations: Mapping[ConversationRef, object],
    user_data: Mapping[Any, Any] | None,
    now: datetime,
) -> None:
    """Store conversation states as of `now` (None ends a conversation) and, unless None,
    the user data (empty: the row goes)."""
    for (name, key), state in conversations.items():
        save_conversation(session, name, key, state, now)
    if user_data is not None:
        save_user_data(session, user_id, user_data)


def load_conversations(session: Session, name: str) -> dict[tuple[Any, ...], StoredState]:
    """Every stored state of one conversation (for tools; the bot reads per user)."""
    rows = session.scalars(select(ConversationState).where(ConversationState.name == name))
    return {tuple(json.loads(row.key)): _decode_state(row.state) for row in rows}


def save_conversation(
    session: Session, name: str, key: tuple[Any, ...], state: object, now: datetime
) -> None:
    """Store a conversation's state as of `now`; None ends the conversation."""
    encoded_key = _encode_key(key)
    if state is None:
        session.execute(
            delete(ConversationState).where(
                ConversationState.name == name, ConversationState.key == encoded_key
            )
        )
        return
    encoded = json.dumps({"state": state, "updated_at": now.isoformat()})
    _upsert(
        session,
        ConversationState,
        {"name": name, "key": encoded_key, "state": encoded},
        ["name", "key"],
    )


def load_user_data(session: Session) -> dict[int, dict[Any, Any]]:
    """Every user's data (for tools; the bot reads per user)."""
    return {row.user_id: json.loads(row.data) for row in session.scalars(select(UserData))}


def save_user_data(session: Session, user_id: int, data: Mapping[Any, Any]) -> None:
    if not data:
        drop_user_data(session, user_id)
        return
    _upsert(session, UserData, {"user_id": user_id, "data": encode_user_data(data)}, ["user_id"])


def prune_user_data(session: Session, marker: str, prune: Callable[[dict[Any, Any]], int]) -> int:
    """Retention inside the stored user data of everyone, also of people who never come
    back (the bot reads user data per update, so only the stored rows hold theirs): `prune`
    edits one user's data in place and returns how many items it dropped. Only rows whose
    JSON mentions `marker` are read."""
    dropped = 0
    rows = session.scalars(select(UserData).where(UserData.data.contains(marker))).all()
    for row in rows:
        data = json.loads(row.data)
        if not isinstance(data, dict):
            continue
        count = prune(data)
        if count:
            dropped += count
            save_user_data(session, row.user_id, data)
    return dropped


def drop_user_data(session: Session, user_id: int) -> None:
    session.execute(delete(UserData).where(UserData.user_id == user_id))
