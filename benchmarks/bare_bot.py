"""The second baseline: a bare python-telegram-bot FAQ bot with the project's own matcher and
two database writes per question, and nothing else (no persistence of conversations, no
small talk, no agenda, no rate limiter, no outbox).

Each question: the matcher (faq/matching.py, the content and thresholds of MAO_CONFIG), then
on a worker thread (so the event loop never waits, as in the project) one transaction with
two writes through the standard library's sqlite3: the user's row (last question and answer)
and the day's count for the answer's topic; then the answer as a reply.

MAO_CONFIG=... BARE_DATABASE=... TELEGRAM_BOT_TOKEN=... TELEGRAM_BASE_URL=http://127.0.0.1:PORT \
    python benchmarks/bare_bot.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import threading
from pathlib import Path

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.config import load_config
from bot.services import build_faq

SCHEMA = """
CREATE TABLE IF NOT EXISTS person (id INTEGER PRIMARY KEY, question TEXT, answer TEXT);
CREATE TABLE IF NOT EXISTS answer_count (
    day TEXT, topic TEXT, count INTEGER NOT NULL, PRIMARY KEY (day, topic)
);
"""


class Store:
    """One sqlite3 connection per worker thread, as a bare bot would keep it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = sqlite3.connect(self.path, timeout=3)
            connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def record(self, user_id: int, question: str, topic: str) -> None:
        with self._connection() as connection:  # one transaction, committed on leaving
            connection.execute(
                "INSERT INTO person (id, question, answer) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET question = excluded.question, "
                "answer = excluded.answer",
                (user_id, question, topic),
            )
            connection.execute(
                "INSERT INTO answer_count (day, topic, count) VALUES (?, ?, 1) "
                "ON CONFLICT (day, topic) DO UPDATE SET count = count + 1",
                (dt.date.today().isoformat(), topic),
            )


def main() -> None:
    config = load_config(Path(os.environ["MAO_CONFIG"]))
    content, matcher = build_faq(config)
    store = Store(Path(os.environ["BARE_DATABASE"]))

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        assert message is not None and message.text is not None and message.from_user
        result = matcher.match(message.text)
        entry = content.entry(result.answer_id) if result.answer_id else None
        topic = entry.id if entry is not None else "-"
        await asyncio.to_thread(store.record, message.from_user.id, message.text, topic)
        text = entry.localised("nl").answer if entry is not None else "Dat weet ik niet."
        await message.reply_text(text)

    base = os.environ["TELEGRAM_BASE_URL"]
    builder = Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"])
    application = builder.base_url(f"{base}/bot").concurrent_updates(64).build()
    application.add_handler(MessageHandler(filters.TEXT, answer))
    application.run_polling(allowed_updates=[Update.MESSAGE])


if __name__ == "__main__":
    main()
