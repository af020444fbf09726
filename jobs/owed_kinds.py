"""Kinds of owed messages: what each declares, and the registry the outbox engine
(jobs/outbox.py) knows them through.

A feature declares the messages it owes beside its own handlers (handlers/*_owed.py): for
each kind its priority, how it is loaded and written out (its renderer), and what follows
once Telegram answered. bot/app.py registers them all at start (`register_owed_kinds`), so
imports still point one way: the engine never imports a feature.

Renderers do no I/O. Everything a message is made from is read first, in one read-only
session per message (`load`: the recipient, then the kind's own `load`), and the renderer
is a plain function of that and the catalogue. A kind's `load` returns None when the
message is no longer owed (a seat given up, a thread erased); so may its renderer.

Priorities and deadlines: storage writes them into each row when the message is owed (the
sender claims by priority and gives up at the deadline), deep inside the transactions of
storage functions, and storage may not import this layer. Rather than pass a registry down
through every function that owes something, `register_kinds` hands each kind's priority
and deadline rule to storage.outbox once, at start (`declare_kind`; bot.app calls it before
storage is used: prepare_storage, build_application, `mao-bot events load`, the tests'
conftest); a kind owed before that is a LookupError that says so. The declaration stays
the one place they are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, Message

from core.context import MaoContext
from core.services import Services
from storage.outbox import (
    Deadline,
    OutboxKind,
    OutboxStatus,
    OwedMessage,
    Priority,
    declare_kind,
)
from storage.users import UserInfo, get_user

T = TypeVar("T")


@dataclass(frozen=True)
class Rendered:
    """An owed message as it is sent."""

    text: str | None = None
    markup: InlineKeyboardMarkup | None = None
    document: tuple[bytes, str] | None = None  # (content, file name); text is the caption
    # Not a new message: the bot's message with this id in the chat is deleted, or where
    # Telegram no longer allows that, its text replaced by `text` (/vergeetmij).
    erase: int | None = None


@dataclass(frozen=True)
class Owed:
    """What every kind is loaded and rendered with: the claimed row, its recipient as
    stored (None: not known, e.g. an organisers' group), and the moment of sending."""

    message: OwedMessage
    recipient: UserInfo | None
    now: datetime


class FollowUp(Protocol):
    """Work a kind asks of the sender beyond one message (a broadcast's progress report),
    one per sender."""

    async def settled(self, message: OwedMessage) -> None:
        """A message of this kind was sent, dropped or given up."""

    async def after_round(self) -> None:
        """The sender finished a round (every due message)."""


AnyApplication = Any  # telegram.ext.Application[...], kept loose: only handed through
Load = Callable[[Session, Owed, Services], T | None]
Render = Callable[[MaoContext, Owed, T], "Rendered | None"]
AfterSend = Callable[[Services, Session, OwedMessage, OutboxStatus, Message | None], None]
Hold = Callable[[Session, OwedMessage, datetime], timedelta | None]


@dataclass(frozen=True)
class OwedKind(Generic[T]):
    """One kind of owed message, as its feature declares it."""

    kind: OutboxKind
    priority: Priority
    # Until when it is tried: storage sets it on each row it owes (storage.outbox.Until).
    deadline: Deadline
    # Read in the message's one read-only session, before rendering; returns None when the
    # message is no longer owed. Without one the renderer gets the `Owed` itself (the row's
    # payload is all it needs).
    load: Load[T] | None = None
    # A pure function of the loaded data (None: never sent, e.g. a record of a copy shown).
    render: Render[T] | None = None
    # In the transaction that records the outcome (where a copy landed, a note to repair).
    after_send: AfterSend | None = None
    # Held back while another message goes first (a calendar file after its confirmation):
    # how long, read in the same session as `load` (None: it may go).
    hold: Hold | None = None
    # Waits for the end of the quiet hours (unless the row's payload allows the night).
    held_at_night: bool = False
    follow_up: Callable[[AnyApplication], FollowUp] | None = None


_KINDS: dict[OutboxKind, OwedKind[Any]] = {}


def register_kinds(*groups: Iterable[OwedKind[Any]]) -> None:
    """Make each feature's kinds known to the engine, and their priorities and deadlines
    to storage. Registering the same declarations again (a second application in one
    process) is harmless; two different declarations of one kind are a mistake."""
    for group in groups:
        for declared in group:
            known = _KINDS.get(declared.kind)
            if known is not None and known != declared:
                raise ValueError(f"{declared.kind} is declared twice")
            _KINDS[declared.kind] = declared
            declare_kind(declared.kind, declared.priority, declared.deadline)


Sweep = Callable[[Session, Services, datetime], None]


@dataclass(frozen=True)
class OwedSweep:
    """Work that makes messages owed as time passes rather than as people act (feedback
    once an activity is over, reminders moved out of the quiet hours), declared beside the
    kinds it owes. The sender runs it in its rounds, at most once per `every`."""

    name: str
    run: Sweep
    every: timedelta = timedelta(minutes=1)


_SWEEPS: dict[str, OwedSweep] = {}


def register_sweeps(*sweeps: OwedSweep) -> None:
    """As register_kinds: again is harmless, two different sweeps of one name a mistake."""
    for sweep in sweeps:
        known = _SWEEPS.get(sweep.name)
        if known is not None and known != sweep:
            raise ValueError(f"sweep {sweep.name} is declared twice")
        _SWEEPS[sweep.name] = sweep


def registered_sweeps() -> tuple[OwedSweep, ...]:
    return tuple(_SWEEPS.values())


def owed_kind(kind: OutboxKind) -> OwedKind[Any]:
    try:
        return _KINDS[kind]
    except KeyError:
        raise LookupError(f"No owed-message kind registered for {kind}") from None


def registered_kinds() -> dict[OutboxKind, OwedKind[Any]]:
    return dict(_KINDS)


@dataclass(frozen=True)
class Loaded:
    """A message ready to render: its kind, what it is made from, in whose language."""

    kind: OwedKind[Any]
    owed: Owed
    data: Any
    language: str | None


@dataclass(frozen=True)
class Held:
    wait: timedelta


def load(
    session: Session, message: OwedMessage, services: Services, now: datetime
) -> Loaded | Held | None:
    """Everything the message is made from, in the caller's (read-only) session: the one
    read per message. None when it is no longer owed."""
    declared = owed_kind(message.kind)
    if declared.hold is not None:
        wait = declared.hold(session, message, now)
        if wait is not None:
            return Held(wait)
    recipient = get_user(session, message.user_id)
    owed = Owed(message, recipient, now)
    data = declared.load(session, owed, services) if declared.load is not None else owed
    if data is None:
        return None
    return Loaded(declared, owed, data, recipient.language if recipient else None)


def render(loaded: Loaded, context: MaoContext) -> Rendered | None:
    """The message as the recipient should read it now (no I/O), None when no longer owed."""
    if loaded.kind.render is None:
        return None
    return loaded.kind.render(context, loaded.owed, loaded.data)


def after_send(
    services: Services,
    session: Session,
    message: OwedMessage,
    status: OutboxStatus,
    sent: Message | None,
) -> None:
    step = owed_kind(message.kind).after_send
    if step is not None:
        step(services, session, message, status, sent)


def follow_ups(application: AnyApplication) -> dict[OutboxKind, FollowUp]:
    """Each registered kind's follow-up, one instance per factory (per sender)."""
    made: dict[Callable[[AnyApplication], FollowUp], FollowUp] = {}
    found: dict[OutboxKind, FollowUp] = {}
    for kind, declared in _KINDS.items():
        if declared.follow_up is not None:
            if declared.follow_up not in made:
                made[declared.follow_up] = declared.follow_up(application)
            found[kind] = made[declared.follow_up]
    return found
