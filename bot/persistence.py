"""PTB persistence on the bot's own database (JSON, not pickle).

Only conversation states and user data (the sign-up draft) are kept: bot_data holds the
services, chat_data is unused, and callback data stays plain strings.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import ConversationDict, ConversationKey

from storage.db import Database
from storage.persistence_store import (
    drop_user_data,
    load_conversations,
    load_user_data,
    save_conversation,
    save_user_data,
)


class SqlPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    def __init__(self, db: Database, update_interval: float = 5) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self.db = db

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
        result: ConversationDict = await self._run(load_conversations, name)
        return result

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        await self._run(save_conversation, name, key, new_state)

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
