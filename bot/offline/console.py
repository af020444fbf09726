"""`mao-bot console`: talk to the real bot in a terminal, offline, without a token.

Reads stdin line by line and stops at EOF, so it also works piped. `#1` presses button 1 of
the latest message with buttons.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
from collections.abc import Callable
from typing import TextIO

from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import ApiCall
from core.i18n import Catalogue
from core.services import Services

_TAG = re.compile(r"</?(b|i|u|s|a|code|pre)(\s[^>]*)?>")


def plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def as_demo(services_factory: Callable[[], Services]) -> Callable[[], Services]:
    """The console is a demo: it shows the example activities (marked "Voorbeeld" in every
    activity block) and lets you try signing up for them. A real bot does neither."""

    def factory() -> Services:
        services = services_factory()
        activities = services.config.activities.model_copy(update={"examples": True})
        services.config = services.config.model_copy(update={"activities": activities})
        services.demo = True
        return services

    return factory


def render(call: ApiCall, chat_id: int, edited_mark: str) -> str | None:
    if call.chat_id not in (chat_id, None):
        return None
    if call.method in {"sendMessage", "editMessageText"}:
        text = plain(str(call.params.get("text", "")))
        prefix = f"({edited_mark}) " if call.method == "editMessageText" else ""
        lines = [f"bot> {prefix}{text}"]
        markup = call.params.get("reply_markup")
        if isinstance(markup, dict):
            labels = buttons_of({"reply_markup": markup})
            lines += [f"  [{n}] {label}" for n, (label, _) in enumerate(labels, 1)]
        return "\n".join(lines)
    if call.method == "sendDocument":
        names = ", ".join(name for name, _ in call.files.values())
        caption = plain(str(call.params.get("caption", "")))
        return f"bot> 📎 {names} {caption}".rstrip()
    if call.method == "answerCallbackQuery" and call.params.get("text"):
        return f"bot> ({plain(str(call.params['text']))})"
    return None


async def run_console(
    services_factory: Callable[[], Services],
    user_id: int,
    language: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    driver = BotDriver(as_demo(services_factory))
    driver.languages[user_id] = language
    interactive = stdin.isatty()
    loop = asyncio.get_running_loop()
    catalogue = Catalogue.load()
    edited_mark = catalogue.text(language, "console_edited")
    async with driver:
        if interactive:
            print(catalogue.text(language, "console_banner"), file=stdout)
        while True:
            if interactive:
                print("> ", end="", file=stdout, flush=True)
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if not text.strip():
                continue
            if not interactive:
                print(f"> {text}", file=stdout)
            match = re.fullmatch(r"#(\d+)", text.strip())
            if match:
                try:
                    calls = await driver.press(user_id, int(match.group(1)))
                except (LookupError, IndexError):
                    print(catalogue.text(language, "console_no_button"), file=stdout)
                    continue
            else:
                calls = await driver.say(user_id, text)
            for call in calls:
                shown = render(call, user_id, edited_mark)
                if shown:
                    print(shown, file=stdout, flush=True)
    return 0
