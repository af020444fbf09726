"""PTB persistence on the bot's own database (JSON, not pickle), read and written per update.

Only conversation states and user data (the sign-up draft) are kept: bot_data holds the
services, chat_data is unused, and callback data stays plain strings.

Any update on any instance: several bot processes may share one database (webhook
instances behind a load balancer without sticky routing), so the database, not a process's
memory, holds a user's conversation. Before each update `load_state` (the earliest handler
group) reads that user's conversation states and user data into PTB's dicts, and right
after it `save_state` writes back what the update changed, for that user only, together
with the update's bookkeeping (answer statistics, Database.write_later): one read and one
write per update. Nothing is
loaded at start, so start-up does not grow with the number of users; PTB's own periodic
flush writes nothing (it would write a stale copy over another instance's newer one).

Conversation timeouts: PTB ends a conversation that stays quiet with a job in memory, which
a restart loses and which knows nothing of what another instance did since. So every state
is stored with the time of its last update, and a conversation quiet for longer than its
`conversation_timeout` is ended from that time: on the user's next update
`end_lapsed_conversations` ends it, tells the user (the conversation's TIMEOUT handlers) and
lets the update be handled as if no conversation had been going on. A timeout job of PTB
still fires on the instance that handled the last update, but first checks the database:
if the conversation went on (or ended) elsewhere meanwhile, the job does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import (
    Application,
    BasePersistence,
    CallbackContext,
    ConversationHandler,
    PersistenceInput,
)
from telegram.ext._utils.trackingdict import TrackingDict
from telegram.ext._utils.types import ConversationDict, ConversationKey

from core.context import MaoContext, user_language
from core.services import Clock, system_clock
from storage.db import Database, Later, is_outage, write_bookkeeping
from storage.persistence_store import (
    ConversationRef,
    UserState,
    encode_user_data,
    load_user_state,
    save_conversation,
    save_user_state,
)

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
StateKey = tuple[str, ConversationKey]  # (conversation name, PTB's key)
# (the conversation, its name, this user's key in it)
Ref = tuple[ConversationHandler[Any], str, ConversationKey]
JobCallback = Callable[[CallbackContext[Any, Any, Any, Any]], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class _Loaded:
    """What one user's update started from, to write back only what it changed."""

    states: dict[StateKey, object]
    user_data: str  # encoded


class SqlPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    def __init__(
        self, db: Database, clock: Clock = system_clock, update_interval: float = 60
    ) -> None:
        # user_data=False: PTB neither loads every user's data at start nor flushes it; this
        # class reads and writes it per update (load_state, save_state).
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=False, callback_data=False
            ),
            update_interval=update_interval,
        )
        self.db = db
        self.clock = clock
        # How long each conversation may stay quiet (see watch_timeouts); none: for ever.
        self.timeouts: dict[str, timedelta] = {}
        # When each conversation this process has seen last changed, as stored.
        self._updated_at: dict[StateKey, datetime] = {}
        # Per user with an update in flight: what it was loaded as (one user's updates run
        # one after the other, see bot/updates.py).
        self._loaded: dict[int, _Loaded] = {}
        # (how many handlers the application had, its persistent conversations): _persistent
        self.conversations: tuple[int, tuple[ConversationHandler[Any], ...]] | None = None

    def watch_timeouts(self, application: AnyApplication) -> None:
        """Take each persistent conversation's timeout (call before initialize)."""
        for conversation in persistent_conversations(application):
            timeout = conversation.conversation_timeout
            if timeout and conversation.name:
                self.timeouts[conversation.name] = (
                    timeout if isinstance(timeout, timedelta) else timedelta(seconds=timeout)
                )

    def lapsed(self, name: str, key: ConversationKey, now: datetime) -> bool:
        """Whether this conversation has been quiet for longer than its timeout."""
        timeout = self.timeouts.get(name)
        updated_at = self._updated_at.get((name, key))
        return timeout is not None and updated_at is not None and now - updated_at >= timeout

    # -- per update ---------------------------------------------------------------------------

    async def _write(self, function: Callable[..., Any], *args: Any) -> Any:
        return await self.db.run_session(function, *args)

    async def load(
        self,
        application: AnyApplication,
        user_id: int,
        refs: list[Ref],
        limit: float | None = None,
    ) -> None:
        """Replace what this process holds of the user's conversations and data with what
        the database holds (another instance may have moved them on)."""
        # The update's bookkeeping (answer statistics) joins its one write in `save`.
        self.db.begin_update()
        stored: UserState = await self.db.run_reading(
            load_user_state,
            user_id,
            [(name, key) for _, name, key in refs],
            limit=limit,
            slow_is_away=limit is None,
        )
        now = self.clock()
        states: dict[StateKey, object] = {}
        for conversation, name, key in refs:
            tracked = _states_of(conversation)
            _take_written(tracked, key)
            row = stored.conversations.get((name, key))
            if row is None:
                tracked.data.pop(key, None)  # not a change of this update: untracked
                self._updated_at.pop((name, key), None)
                continue
            tracked.update_no_track({key: row.state})
            states[(name, key)] = row.state
            # A state stored before times were kept gets the full timeout from now.
            self._updated_at[(name, key)] = (
                row.updated_at or self._updated_at.get((name, key)) or now
            )
        data = application.user_data[user_id]
        data.clear()
        data.update(stored.user_data or {})
        self._loaded[user_id] = _Loaded(states, encode_user_data(data))

    async def save(self, application: AnyApplication, user_id: int, refs: list[Ref]) -> None:
        """Write what this update changed of the user's conversations and data, and its
        bookkeeping, at once: one transaction per update."""
        bookkeeping = self.db.take_update_writes()
        loaded = self._loaded.pop(user_id, None)
        if loaded is None:
            # Never loaded (the look-up failed): the database stays the truth; the
            # bookkeeping is written on its own (or skipped while the database is away).
            for function, args in bookkeeping:
                self.db.write_later(function, *args)
            return
        changes: dict[ConversationRef, object] = {}
        for conversation, name, key in refs:
            tracked = _states_of(conversation)
            state = tracked.get(key)
            # Written by a handler (also to the same state: the timeout starts again).
            if _take_written(tracked, key) or state != loaded.states.get((name, key)):
                changes[(name, key)] = state
        data = application.user_data.get(user_id) or {}
        changed_data = encode_user_data(data) != loaded.user_data
        if changes or changed_data or bookkeeping:
            now = self.clock()
            stored_data = dict(data) if changed_data else None
            try:
                await self._write(_save_update, user_id, changes, stored_data, now, bookkeeping)
            except Exception as error:
                if not bookkeeping or is_outage(error):
                    raise
                # Failed bookkeeping (a count) must not cost the user their state.
                logger.warning("Bookkeeping not written: %s", type(error).__name__)
                await self._write(_save_update, user_id, changes, stored_data, now, [])
            for (name, key), state in changes.items():
                if state is None:
                    self._updated_at.pop((name, key), None)
                else:
                    self._updated_at[(name, key)] = now
        for conversation, name, key in refs:
            self._guard_timeout(application, conversation, name, key, user_id)

    async def end_conversation(self, name: str, key: ConversationKey) -> None:
        """Store at once that a conversation ended (see end_lapsed_conversations)."""
        self._updated_at.pop((name, key), None)
        await self._write(save_conversation, name, key, None, self.clock())

    def _guard_timeout(
        self,
        application: AnyApplication,
        conversation: ConversationHandler[Any],
        name: str,
        key: ConversationKey,
        user_id: int,
    ) -> None:
        """Make PTB's timeout job for this conversation check the database before ending
        it: the user may have carried on on another instance since."""
        job = conversation.timeout_jobs.get(key)
        if job is None or getattr(job.callback, "guarded", False):
            return
        original: JobCallback = job.callback
        refs: list[Ref] = [(conversation, name, key)]

        async def guarded(context: CallbackContext[Any, Any, Any, Any]) -> None:
            if conversation.timeout_jobs.get(key) is not context.job:
                return  # replaced by a newer update here: PTB's own check
            known = self._updated_at.get((name, key))
            await self.load(application, user_id, refs)
            if known is None or self._updated_at.get((name, key)) != known:
                # Went on or ended elsewhere: that instance's timer (or the lapse check on the
                # user's next update) ends it, not this one.
                self._loaded.pop(user_id, None)
                if conversation.timeout_jobs.get(key) is context.job:
                    del conversation.timeout_jobs[key]
                return
            await original(context)
            await self.save(application, user_id, refs)

        guarded.guarded = True  # type: ignore[attr-defined]
        job.callback = guarded

    # -- what PTB calls -----------------------------------------------------------------------

    async def get_conversations(self, name: str) -> ConversationDict:
        """Nothing at start: each update loads its user's state (load_state)."""
        return {}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """PTB's periodic flush: already written by save_state right after the update (a
        later copy from here could overwrite another instance's newer state)."""
        return None

    # Unused stores: PTB requires them to exist.
    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        return None

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        return None

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        return None

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        return None

    async def get_callback_data(self) -> None:
        return None

    async def update_callback_data(self, data: Any) -> None:
        return None

    async def flush(self) -> None:
        return None


def _save_update(
    session: Session,
    user_id: int,
    changes: dict[ConversationRef, object],
    data: dict[Any, Any] | None,
    now: datetime,
    bookkeeping: list[Later],
) -> None:
    if changes or data is not None:
        save_user_state(session, user_id, changes, data, now)
    write_bookkeeping(session, bookkeeping)


def _states_of(conversation: ConversationHandler[Any]) -> TrackingDict[ConversationKey, object]:
    # PTB has no public access to a conversation's states; this is the dict it keeps (and
    # tracks changes of) them in.
    states = conversation._conversations
    assert isinstance(states, TrackingDict)
    return states


def _take_written(states: TrackingDict[ConversationKey, object], key: ConversationKey) -> bool:
    """Whether `key` was written since last asked; other keys' marks stay (they belong to
    other users' updates in flight)."""
    written = states.pop_accessed_keys()
    for other in written:
        if other != key:
            states.mark_as_accessed(other)
    return key in written


def persistent_conversations(
    application: AnyApplication,
) -> Iterator[ConversationHandler[Any]]:
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, ConversationHandler) and handler.persistent and handler.name:
                yield handler


def _conversation_key(
    conversation: ConversationHandler[Any], update: Update
) -> ConversationKey | None:
    """PTB's key for this update in a per-chat/per-user conversation (None for others)."""
    chat, user = update.effective_chat, update.effective_user
    if conversation.per_message or chat is None or user is None:
        return None
    key: list[int] = []
    if conversation.per_chat:
        key.append(chat.id)
    if conversation.per_user:
        key.append(user.id)
    return tuple(key)


def _persistent(application: AnyApplication) -> tuple[ConversationHandler[Any], ...]:
    """persistent_conversations, looked up once: every update needs them three times, and
    the handlers are fixed once the bot runs (looked up again if their number changes)."""
    persistence = application.persistence
    if not isinstance(persistence, SqlPersistence):
        return tuple(persistent_conversations(application))
    count = sum(len(handlers) for handlers in application.handlers.values())
    if persistence.conversations is None or persistence.conversations[0] != count:
        persistence.conversations = (count, tuple(persistent_conversations(application)))
    return persistence.conversations[1]


def _refs(application: AnyApplication, update: Update) -> list[Ref]:
    refs: list[Ref] = []
    for conversation in _persistent(application):
        key = _conversation_key(conversation, update)
        if key is not None and conversation.name:
            refs.append((conversation, conversation.name, key))
    return refs


async def load_state(update: Update, context: MaoContext) -> None:
    """Runs first for every update: the user's conversations and data as the database holds
    them (any instance may have handled their previous update).

    The database away (or slow beyond `storage.read_timeout`): the update goes on without
    them, as if no conversation were going on, so that what needs no database (an FAQ
    answer, /help) still comes at once; nothing is written back for it (save_state), and an
    action that works on what was started earlier says it did not happen
    (MaoContext.require_state)."""
    persistence = context.application.persistence
    user = update.effective_user
    if not isinstance(persistence, SqlPersistence) or user is None:
        return
    refs = _refs(context.application, update)
    database = persistence.db
    try:
        database.refuse_while_away()
        await persistence.load(context.application, user.id, refs, database.timeouts.read)
    except Exception as error:
        if not is_outage(error):
            raise
        logger.warning(
            "State of an update not read (%s): answered from memory", type(error).__name__
        )
        for conversation, _name, key in refs:
            _states_of(conversation).data.pop(key, None)
        context.application.user_data[user.id].clear()
        context.state_unread = True


async def save_state(update: Update, context: MaoContext) -> None:
    """Runs last: what the update changed is written at once, so that the user's next
    update finds it on any instance, and a crash mid-sign-up loses nothing."""
    persistence = context.application.persistence
    user = update.effective_user
    if isinstance(persistence, SqlPersistence) and user is not None:
        await persistence.save(context.application, user.id, _refs(context.application, update))


async def end_lapsed_conversations(update: Update, context: MaoContext) -> None:
    """Runs before every other handler but load_state: a conversation quiet for longer than
    its timeout (also across restarts) ends here, its TIMEOUT handlers tell the user, and
    the update then goes on as if no conversation had been going on (a question goes to
    the FAQ)."""
    persistence = context.application.persistence
    if not isinstance(persistence, SqlPersistence):
        return
    now = context.services.now()
    for conversation, name, key in _refs(context.application, update):
        if not persistence.lapsed(name, key, now):
            continue
        logger.info("Conversation %s ended: quiet longer than its timeout", name)
        await end_conversation_now(update, context, (conversation, name, key))


async def end_conversation_now(update: Update, context: MaoContext, ref: Ref) -> None:
    """End the user's conversation from outside it, as PTB would at its timeout: the job
    goes, the end is stored, and its TIMEOUT handlers clear what it kept and tell the user."""
    conversation, name, key = ref
    job = conversation.timeout_jobs.pop(key, None)
    if job is not None:
        job.schedule_removal()
    _states_of(conversation).pop(key, None)
    persistence = context.application.persistence
    if isinstance(persistence, SqlPersistence):
        await persistence.end_conversation(name, key)
    await user_language(update, context)
    for handler in conversation.states.get(ConversationHandler.TIMEOUT, []):
        check = handler.check_update(update)
        if check is not None and check is not False:
            await handler.handle_update(update, context.application, check, context)


def conversations_going_on(application: AnyApplication, update: Update) -> list[Ref]:
    """The persistent conversations the update's user is in the middle of."""
    return [ref for ref in _refs(application, update) if ref[2] in _states_of(ref[0])]


async def persist_now(update: Update, context: MaoContext) -> None:
    """Write what the update changed of the user's conversation state at once, so a crash
    mid-sign-up loses nothing and the user's next update may go to any instance. The
    bookkeeping written after the answer (Database.write_later) is finished too."""
    await save_state(update, context)
    await context.services.db.written()
