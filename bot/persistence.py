"""PTB persistence on the bot's own database (JSON, not pickle).

Only conversation states and user data (the sign-up draft) are kept: bot_data holds the
services, chat_data is unused, and callback data stays plain strings.

Conversation timeouts: PTB ends a conversation that stays quiet with a job in memory, which
a restart loses. So every state is stored with the time of its last update, and a
conversation quiet for longer than its `conversation_timeout` is ended from that time: at
start it is not handed to PTB, and on the user's next update `end_lapsed_conversations`
ends it, tells the user (the conversation's TIMEOUT handlers) and lets the update be
handled as if no conversation had been going on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, BasePersistence, ConversationHandler, PersistenceInput
from telegram.ext._utils.types import ConversationDict, ConversationKey

from core.context import MaoContext, user_language
from core.services import Clock, system_clock
from storage.db import Database
from storage.persistence_store import (
    drop_user_data,
    load_conversations,
    load_user_data,
    save_conversation,
    save_user_data,
)

logger = logging.getLogger(__name__)

StateKey = tuple[str, ConversationKey]  # (conversation name, PTB's key)


class SqlPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    def __init__(
        self, db: Database, clock: Clock = system_clock, update_interval: float = 5
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self.db = db
        self.clock = clock
        # How long each conversation may stay quiet (see watch_timeouts); none: for ever.
        self.timeouts: dict[str, timedelta] = {}
        # When each live conversation last changed (stored, and kept current here).
        self._updated_at: dict[StateKey, datetime] = {}
        # Conversations found abandoned at start whose user has not been told yet; their
        # rows stay stored until then, so a second restart does not forget them.
        self._lapsed: set[StateKey] = set()

    def watch_timeouts(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Take each persistent conversation's timeout (call before initialize)."""
        for conversation in persistent_conversations(application):
            timeout = conversation.conversation_timeout
            if timeout and conversation.name:
                self.timeouts[conversation.name] = (
                    timeout if isinstance(timeout, timedelta) else timedelta(seconds=timeout)
                )

    def lapsed(self, name: str, key: ConversationKey, now: datetime) -> bool:
        """Whether this conversation has been quiet for longer than its timeout."""
        if (name, key) in self._lapsed:
            return True
        timeout = self.timeouts.get(name)
        updated_at = self._updated_at.get((name, key))
        return timeout is not None and updated_at is not None and now - updated_at >= timeout

    async def _run(self, function: Any, *args: Any) -> Any:
        def work() -> Any:
            with self.db.session() as session:
                return function(session, *args)

        return await asyncio.to_thread(work)

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        result: dict[int, dict[Any, Any]] = await self._run(load_user_data)
        return result

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        await self._run(save_user_data, user_id, data)

    async def drop_user_data(self, user_id: int) -> None:
        await self._run(drop_user_data, user_id)

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        """Not needed: one process owns a user's conversation at a time."""

    async def get_conversations(self, name: str) -> ConversationDict:
        """The conversations to resume; those quiet for longer than their timeout are held
        back (and remembered, to tell their users)."""
        stored = await self._run(load_conversations, name)
        now = self.clock()
        live: ConversationDict = {}
        for key, row in stored.items():
            # A state stored before times were kept gets the full timeout from now.
            self._updated_at[(name, key)] = row.updated_at or now
            if self.lapsed(name, key, now):
                self._lapsed.add((name, key))
                del self._updated_at[(name, key)]
            else:
                live[key] = row.state
        if len(live) < len(stored):
            logger.info(
                "Conversation %s: %d ended for being quiet too long", name, len(stored) - len(live)
            )
        return live

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        now = self.clock()
        self._lapsed.discard((name, key))
        if new_state is None:
            self._updated_at.pop((name, key), None)
        else:
            self._updated_at[(name, key)] = now
        await self._run(save_conversation, name, key, new_state, now)

    # Unused stores: PTB requires them to exist.
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


def persistent_conversations(
    application: Application[Any, Any, Any, Any, Any, Any],
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


async def end_lapsed_conversations(update: Update, context: MaoContext) -> None:
    """Runs before every other handler: a conversation quiet for longer than its timeout
    (also across restarts) ends here, its TIMEOUT handlers tell the user, and the update
    then goes on as if no conversation had been going on (a question goes to the FAQ)."""
    persistence = context.application.persistence
    if not isinstance(persistence, SqlPersistence):
        return
    now = context.services.now()
    for conversation in persistent_conversations(context.application):
        key = _conversation_key(conversation, update)
        name = conversation.name
        if key is None or name is None or not persistence.lapsed(name, key, now):
            continue
        job = conversation.timeout_jobs.pop(key, None)
        if job is not None:
            job.schedule_removal()
        # PTB has no public way to end a conversation from outside it; this is the dict it
        # keeps (and persists) the states in.
        conversation._conversations.pop(key, None)
        await persistence.update_conversation(name, key, None)
        logger.info("Conversation %s ended: quiet longer than its timeout", name)
        user_language(update, context)
        for handler in conversation.states.get(ConversationHandler.TIMEOUT, []):
            check = handler.check_update(update)
            if check is not None and check is not False:
                await handler.handle_update(update, context.application, check, context)
