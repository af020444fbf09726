"""Drive the real Application against the local Bot API stand-in, as a user would.

Used by `mao-bot console`, the tests and the benchmarks: updates go in through getUpdates
(long polling over HTTP), the bot's answers come back as recorded Bot API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telegram import Update

from bot.app import (
    AnsweringApplication,
    MaoApplication,
    allowed_updates,
    build_application,
    prepare_storage,
    stop_application,
)
from bot.offline.standin import ApiCall, BotApiStandIn
from core.context import services_of
from core.services import Services
from jobs.outbox import outbox_of

PROCESS_TIMEOUT = 20.0


async def spawn_bot_process(
    config_file: Path, standin: BotApiStandIn
) -> asyncio.subprocess.Process:
    """`mao-bot run` as a real process, talking to the stand-in (crash and restart tests)."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{standin.port}",
        "MAO_CONFIG": str(config_file),
        "MAO_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


class ObservedApplication(AnsweringApplication):
    """Signals when an update has been fully processed, so a driver knows the bot is done."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processed: dict[int, asyncio.Event] = {}

    def processed_event(self, update_id: int) -> asyncio.Event:
        return self.processed.setdefault(update_id, asyncio.Event())

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            if isinstance(update, Update):
                self.processed_event(update.update_id).set()


def user_dict(user_id: int, language_code: str = "nl", first_name: str = "Test") -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "language_code": language_code,
    }


class BotDriver:
    """Starts stand-in and Application; `say` and `press` return the bot's calls in response."""

    def __init__(
        self,
        services_factory: Callable[[], Services],
        standin: BotApiStandIn | None = None,
    ) -> None:
        self.services_factory = services_factory
        self.standin = standin or BotApiStandIn()
        self.application: MaoApplication | None = None
        self.languages: dict[int, str] = {}

    async def __aenter__(self) -> BotDriver:
        await self.standin.start()
        await self.start_bot()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_bot()
        await self.standin.stop()

    @property
    def services(self) -> Services:
        assert self.application is not None
        return services_of(self.application)

    async def start_bot(self) -> None:
        services = self.services_factory()
        services.config = services.config.model_copy(
            update={
                "telegram": services.config.telegram.model_copy(
                    update={
                        "base_url": self.standin.base_url,
                        "base_file_url": self.standin.base_file_url,
                    }
                )
            }
        )
        prepare_storage(services)
        self.application = build_application(
            services, self.standin.token, application_class=ObservedApplication
        )
        await self.application.initialize()
        if self.application.post_init:
            await self.application.post_init(self.application)
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=allowed_updates()
        )

    async def stop_bot(self) -> None:
        application, self.application = self.application, None
        if application is None:
            return
        assert application.updater is not None
        with contextlib.suppress(RuntimeError):
            await application.updater.stop()
        await stop_application(application)

    async def restart(self) -> None:
        await self.stop_bot()
        await self.start_bot()

    async def _wait(self, update_id: int, before: int, chat_id: int) -> list[ApiCall]:
        """The calls made while the update was processed, to this user's chat or to none
        (answering a button). Jobs run meanwhile and write to other chats: those are not
        this update's answer (see messages_to for them)."""
        application = self.application
        assert isinstance(application, ObservedApplication)
        await asyncio.wait_for(application.processed_event(update_id).wait(), PROCESS_TIMEOUT)
        return [c for c in self.standin.calls[before:] if c.chat_id in (chat_id, None)]

    def _user(self, user_id: int) -> dict[str, Any]:
        return user_dict(user_id, self.languages.get(user_id, "nl"))

    async def send_update(self, update: dict[str, Any], chat_id: int) -> list[ApiCall]:
        """Any raw update (a sticker, a group message); returns the answer in `chat_id`."""
        before = len(self.standin.calls)
        update_id = self.standin.push_update(update)
        return await self._wait(update_id, before, chat_id)

    async def say(
        self,
        user_id: int,
        text: str,
        *,
        chat: dict[str, Any] | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> list[ApiCall]:
        """A text from the user, privately or in `chat` (a group), optionally as a reply to
        `reply_to` (e.g. a message of the bot's, from `latest_message`); returns the answer
        in that chat."""
        before = len(self.standin.calls)
        update_id = self.standin.user_message(
            self._user(user_id), text, chat=chat, reply_to=reply_to
        )
        return await self._wait(update_id, before, chat["id"] if chat else user_id)

    async def press_data(
        self, user_id: int, data: str, message: dict[str, Any] | None = None
    ) -> list[ApiCall]:
        message = (
            message
            or self.latest_message(user_id)
            or {
                "message_id": 1,
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "text": "-",
            }
        )
        before = len(self.standin.calls)
        update_id = self.standin.press_button(self._user(user_id), message, data)
        return await self._wait(update_id, before, user_id)

    async def press(self, user_id: int, button: int | str) -> list[ApiCall]:
        """Press button number `button` (1-based) or the one whose label contains it."""
        message = self.latest_message_with_buttons(user_id)
        if message is None:
            raise LookupError("no message with buttons")
        buttons = buttons_of(message)
        if isinstance(button, int):
            _, data = buttons[button - 1]
        else:
            _, data = next(b for b in buttons if button.lower() in b[0].lower())
        return await self.press_data(user_id, data, message)

    async def run_job(self, name: str) -> list[ApiCall]:
        """Run a scheduled job now (tests move the injected clock, not real time)."""
        assert self.application is not None and self.application.job_queue is not None
        [job] = self.application.job_queue.get_jobs_by_name(name)
        before = len(self.standin.calls)
        await job.run(self.application)
        return self.standin.calls[before:]

    async def deliver_owed(self) -> list[ApiCall]:
        """Send everything the outbox holds that is due by the injected clock, now."""
        assert self.application is not None
        sender = outbox_of(self.application)
        before = len(self.standin.calls)
        await sender.deliver_due()
        await sender.after_round()
        return self.standin.calls[before:]

    async def messages_to(
        self, chat_id: int, containing: str, at_least: int = 1, limit_seconds: float = 5.0
    ) -> list[ApiCall]:
        """Messages sent to a chat containing a text, waiting briefly for background jobs
        (a notice may be sent by the update that caused it or by the notice job)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_seconds
        while True:
            found = [
                c
                for c in self.standin.calls
                if c.method == "sendMessage"
                and c.chat_id == chat_id
                and containing in str(c.params.get("text", ""))
            ]
            if len(found) >= at_least or loop.time() > deadline:
                return found
            await asyncio.sleep(0.02)

    def latest_message(self, chat_id: int) -> dict[str, Any] | None:
        for (chat, _), message in reversed(self.standin.messages.items()):
            if chat == chat_id:
                return message
        return None

    def latest_message_with_buttons(self, chat_id: int) -> dict[str, Any] | None:
        for (chat, _), message in reversed(self.standin.messages.items()):
            if chat == chat_id and buttons_of(message):
                return message
        return None


def buttons_of(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [
        (button["text"], button.get("callback_data") or button.get("url", ""))
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]
