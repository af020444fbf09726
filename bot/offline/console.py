"""`mao-bot console`: talk to the real bot in a terminal, offline, without a token.

Reads stdin line by line and stops at EOF, so it also works piped. Every message the bot
sends is numbered (`[3] bot> ...`); what it sends on its own (a promotion, an offer, a
reminder, an announcement) is marked `bot ⇢`, with the chat it went to when that is not the
current user's. `#1` presses button 1 of the latest message with buttons, `#3.2` button 2 of
message [3]. `/als 1002` (`/user`) switches user, `/wacht 2d` (`/wait`) moves the bot's clock
forward so reminders and offers fall due. `>3 text` replies to message [3], as Telegram's
"Reply" does (a plain line replies to a message that asked for an answer). Documents and
photos are saved in a folder; the bot's HTML is shown as terminal formatting (`render`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TextIO

from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import ApiCall, BotApiStandIn
from core.i18n import Catalogue
from core.services import Clock, Services
from storage.durations import parse_duration

DEFAULT_FILES = Path("mao-console-files")
DEFAULT_ORGANISER = 9001
REPLY = "bot>"
PUSHED = "bot ⇢"
WATCH_SECONDS = 0.05
_PRESS = re.compile(r"#(?:(\d+)\.)?(\d+)")
_SWITCH = re.compile(r"/(?:als|user)(?:\s+(\S+))?")
_WAIT = re.compile(r"/(?:wacht|wait)(?:\s+(.+))?")
_REPLY = re.compile(r">(\d+)\s+(.+)", re.DOTALL)
_HELP = re.compile(r"/console")
# Telegram HTML as terminal text: (on, off) escape codes of each tag.
_STYLES = {
    "b": ("\x1b[1m", "\x1b[22m"),
    "strong": ("\x1b[1m", "\x1b[22m"),
    "i": ("\x1b[3m", "\x1b[23m"),
    "em": ("\x1b[3m", "\x1b[23m"),
    "u": ("\x1b[4m", "\x1b[24m"),
    "ins": ("\x1b[4m", "\x1b[24m"),
    "s": ("\x1b[9m", "\x1b[29m"),
    "strike": ("\x1b[9m", "\x1b[29m"),
    "del": ("\x1b[9m", "\x1b[29m"),
    "code": ("\x1b[2m", "\x1b[22m"),
    "pre": ("\x1b[2m", "\x1b[22m"),
}
QUOTE = "  │ "


class _Terminal(HTMLParser):
    """Telegram HTML as a terminal shows it: styles as escape codes (or none), a quote
    indented, a link followed by its address."""

    def __init__(self, ansi: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.ansi = ansi
        self.parts: list[list[str]] = [[]]  # one buffer per open blockquote
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "blockquote":
            self.parts.append([])
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")
            self.parts[-1].append("")
        elif self.ansi and tag in _STYLES:
            self.parts[-1].append(_STYLES[tag][0])

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote" and len(self.parts) > 1:
            quoted = "".join(self.parts.pop()).strip("\n")
            self.parts[-1].append("\n".join(QUOTE + line for line in quoted.split("\n")))
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not href.startswith("tg://"):
                self.parts[-1].append(f" ({href})")
        elif self.ansi and tag in _STYLES:
            self.parts[-1].append(_STYLES[tag][1])

    def handle_data(self, data: str) -> None:
        self.parts[-1].append(data)

    def text(self) -> str:
        while len(self.parts) > 1:  # an unclosed quote: Telegram would refuse it anyway
            self.handle_endtag("blockquote")
        return "".join(self.parts[0])


def render(text: str, ansi: bool = False) -> str:
    """The bot's HTML as terminal text: never tags; formatting only with `ansi`."""
    parser = _Terminal(ansi)
    parser.feed(text)
    parser.close()
    return parser.text()


def plain(text: str) -> str:
    return render(text)


class ConsoleClock:
    """The bot's clock in the console: the services' own clock plus however far `/wacht`
    has moved it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def wrap(self, base: Clock) -> Clock:
        def now() -> datetime:
            return base() + self.offset

        return now

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class ConsoleStandIn(BotApiStandIn):
    """The stand-in, remembering which message each recorded sending call created, so the
    console can number the messages and press buttons of any of them."""

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[int, int] = {}  # index in `calls` -> message_id

    def answer(self, call: ApiCall, *, answered: bool = True) -> tuple[int, dict[str, Any]]:
        status, body = super().answer(call, answered=answered)
        result = body.get("result")
        if (
            status == 200
            and call.method in self.SENDING_METHODS
            and isinstance(result, dict)
            and self.calls
            and self.calls[-1] is call
        ):
            self.created[len(self.calls) - 1] = int(result["message_id"])
        return status, body


def as_demo(
    services_factory: Callable[[], Services],
    organiser: int | None = None,
    clock: ConsoleClock | None = None,
    on_erased: list[Callable[[int], None]] | None = None,
) -> Callable[[], Services]:
    """The console is a demo: it shows the example activities (marked "Voorbeeld" in every
    activity block) and lets you try signing up for them. A real bot does neither.
    `organiser` is made an organiser (config's admins); `clock` can move the bot's time."""

    def factory() -> Services:
        services = services_factory()
        config = services.config
        activities = config.activities.model_copy(update={"examples": True})
        update: dict[str, Any] = {"activities": activities}
        if organiser is not None and organiser not in config.admins:
            update["admins"] = (*config.admins, organiser)
        services.config = config.model_copy(update=update)
        services.demo = True
        if clock is not None:
            services.clock = clock.wrap(services.clock)
        if on_erased is not None:
            services.on_erased = on_erased  # shared: the console adds itself once it exists
        return services

    return factory


class Console:
    """What the console prints, and the console's own commands. Everything the bot sends
    is printed once, in the order it was sent: the answer to the typed line as `bot>`, all
    else (to this user or another) as `bot ⇢`, whenever it arrives."""

    def __init__(
        self,
        driver: BotDriver,
        standin: ConsoleStandIn,
        clock: ConsoleClock,
        language: str,
        user_id: int,
        stdout: TextIO,
        files: Path | None,
    ) -> None:
        self.driver = driver
        self.standin = standin
        self.clock = clock
        self.catalogue = Catalogue.load()
        self.language = language
        self.user = self.first_user = user_id
        self.stdout = stdout
        self.files = files
        self.interactive = False
        self.cursor = 0  # calls before this index are printed (or not worth printing)
        self.numbers: dict[tuple[int, int], int] = {}
        self.messages: dict[int, tuple[int, int]] = {}
        self.saved: set[Path] = set()
        self.saved_for: dict[int, set[Path]] = {}  # chat -> files saved from it
        self.busy = False  # a line is being handled: its answer is printed by `handle`
        self.at_prompt = False
        isatty = getattr(stdout, "isatty", None)
        self.ansi = bool(isatty and isatty())  # formatting only for a terminal, not a pipe

    # -- output -------------------------------------------------------------------------------

    def text(self, key: str, **values: Any) -> str:
        return plain(self.catalogue.text(self.language, key, **values))

    def body(self, value: object, params: dict[str, Any]) -> str:
        """A text or caption as sent: HTML rendered (the bot's default), anything else as is."""
        if str(params.get("parse_mode", "")).upper() != "HTML":
            return str(value)
        return render(str(value), self.ansi)

    def show(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def prompt(self) -> str:
        return "> " if self.user == self.first_user else f"{self.user} > "

    def flush(self, reply_from: int = 0, reply_until: int = 0) -> None:
        """Print the calls not printed yet. Those in [reply_from, reply_until) to the current
        user's chat (or to none: a button's answer) are the answer to the typed line."""
        calls = self.standin.calls
        lines: list[str] = []
        while self.cursor < len(calls):
            index = self.cursor
            self.cursor += 1
            call = calls[index]
            reply = reply_from <= index < reply_until and call.chat_id in (self.user, None)
            shown = self.render(index, call, reply)
            if shown:
                lines.append(shown)
        if not lines:
            return
        if self.at_prompt:
            print(file=self.stdout)
        self.show("\n".join(lines))
        if self.at_prompt:
            print(self.prompt(), end="", file=self.stdout, flush=True)

    def number(self, chat_id: int, message_id: int) -> int:
        key = (chat_id, message_id)
        if key not in self.numbers:
            self.numbers[key] = len(self.numbers) + 1
            self.messages[self.numbers[key]] = key
        return self.numbers[key]

    def render(self, index: int, call: ApiCall, reply: bool) -> str | None:
        params = call.params
        if call.method == "answerCallbackQuery":
            answer = params.get("text")
            # A toast is plain text (no parse mode).
            return f"{REPLY} ({answer})" if reply and answer else None
        chat_id = call.chat_id
        if chat_id is None:
            return None
        if reply:
            head = REPLY
        elif chat_id == self.user:
            head = PUSHED
        else:
            head = f"{PUSHED} {self.text('console_chat_of', user=chat_id)}"
        edited = f"({self.text('console_edited')}) "
        extra: list[str] = []
        if call.method in {"sendMessage", "copyMessage"}:
            message_id = self.standin.created.get(index)
            body = self.body(params.get("text", params.get("caption", "")), params)
            edited = ""
        elif call.method == "editMessageText":
            message_id = _int(params.get("message_id"))
            body = self.body(params.get("text", ""), params)
        elif call.method == "editMessageReplyMarkup":
            # Only a new keyboard is worth showing; removing one is what a press does.
            if not buttons_of({"reply_markup": params.get("reply_markup")}):
                return None
            message_id = _int(params.get("message_id"))
            body = ""
        elif call.method in {"sendDocument", "sendPhoto"}:
            # A photo (the /cijfers chart, a QR code) is a file to open, like a document.
            message_id = self.standin.created.get(index)
            names = [name for name, _ in call.files.values()]
            icon = "🖼" if call.method == "sendPhoto" else "📎"
            caption = self.body(params.get("caption", ""), params)
            body = f"{icon} {', '.join(names)} {caption}".rstrip()
            edited = ""
            for name, content in call.files.values():
                if self.files is not None:
                    path = self.save(self.files, name, content)
                    self.saved_for.setdefault(chat_id, set()).add(Path(path))
                    extra.append("    " + self.text("console_saved", path=path))
        else:
            return None
        number = f"[{self.number(chat_id, message_id)}] " if message_id is not None else ""
        lines = [f"{number}{head} {edited}{body}".rstrip()]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("force_reply") and message_id is not None:
            extra.insert(0, "    " + self.text("console_force_reply"))
        if isinstance(markup, dict):
            labels = buttons_of({"reply_markup": markup})
            lines += [f"  [{n}] {label}" for n, (label, _) in enumerate(labels, 1)]
        return "\n".join(lines + extra)

    def save(self, files: Path, name: str, content: bytes) -> str:
        """Save a document in the files folder. Within one session a different file of the
        same name gets a number (`-2`); a file of an earlier session is replaced."""
        files.mkdir(parents=True, exist_ok=True)
        original = files / (Path(name).name or "document")
        path, count = original, 1
        while path in self.saved and path.read_bytes() != content:
            count += 1
            path = original.with_name(f"{original.stem}-{count}{original.suffix}")
        path.write_bytes(content)
        self.saved.add(path)
        return str(path.resolve())

    def forget(self, user_id: int) -> None:
        """/vergeetmij: the files saved from that person's chat (their data file, calendar
        files) go too, and a data file about them from an earlier session."""
        paths = self.saved_for.pop(user_id, set())
        if self.files is not None and self.files.is_dir():
            for found in self.files.glob("mijn-gegevens*.json"):
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    if json.loads(found.read_bytes()).get("telegram_id") == user_id:
                        paths.add(found.resolve())
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()
        self.saved = {p for p in self.saved if p.resolve() not in paths}

    # -- input --------------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        self.flush()
        if not self.interactive:
            self.show(f"> {text}")
        command = text.strip()
        if switch := _SWITCH.fullmatch(command):
            self.switch(switch.group(1))
            return
        if wait := _WAIT.fullmatch(command):
            await self.wait(wait.group(1))
            return
        if _HELP.fullmatch(command):
            self.show(self.text("console_help"))
            return
        replying = _REPLY.fullmatch(command)
        replied: dict[str, Any] | None = None
        if replying:
            replied = self.replied(int(replying.group(1)))
            if replied is None:
                return
            text = replying.group(2)
        else:
            replied = self.asked_for_answer()
        self.busy = True
        try:
            before = len(self.standin.calls)
            press = _PRESS.fullmatch(command)
            if press:
                message = int(press.group(1)) if press.group(1) else None
                await self.press(message, int(press.group(2)))
            else:
                chat = replied["chat"] if replied and replied["chat"]["id"] < 0 else None
                await self.driver.say(self.user, text, chat=chat, reply_to=replied)
            self.flush(before, len(self.standin.calls))
            # What the line set in motion for others (a freed seat), shown right away.
            await self.driver.deliver_owed()
            self.flush()
        finally:
            self.busy = False

    def replied(self, number: int) -> dict[str, Any] | None:
        """Message [number], to reply to: in this user's chat, or in a group (where the
        organisers' copies may go); None, and said why, otherwise."""
        key = self.messages.get(number)
        message = self.standin.messages.get(key) if key else None
        if key is None or message is None:
            self.show(self.text("console_no_message", number=number))
            return None
        if key[0] != self.user and key[0] > 0:
            self.show(self.text("console_other_chat", number=number, user=key[0]))
            return None
        return message

    def asked_for_answer(self) -> dict[str, Any] | None:
        """The newest message in this user's chat, when it asked for an answer (ForceReply):
        Telegram opens the reply box for it, so a plain line replies to it."""
        newest = max(
            (message_id for chat, message_id in self.standin.messages if chat == self.user),
            default=None,
        )
        if newest is None or (self.user, newest) not in self.standin.force_reply:
            return None
        return self.standin.messages[(self.user, newest)]

    async def press(self, number: int | None, button: int) -> None:
        if button < 1:
            self.show(self.text("console_no_button"))
            return
        if number is None:
            try:
                await self.driver.press(self.user, button)
            except (LookupError, IndexError):
                self.show(self.text("console_no_button"))
            return
        key = self.messages.get(number)
        message = self.standin.messages.get(key) if key else None
        if key is None or message is None:
            self.show(self.text("console_no_button"))
            return
        if key[0] != self.user:
            self.show(self.text("console_other_chat", number=number, user=key[0]))
            return
        markup = message.get("reply_markup") or {}
        row_buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
        if button > len(row_buttons):
            self.show(self.text("console_no_button"))
            return
        chosen = row_buttons[button - 1]
        if "callback_data" not in chosen:
            self.show(self.text("console_link", url=str(chosen.get("url", ""))))
            return
        await self.driver.press_data(self.user, str(chosen["callback_data"]), message)

    def switch(self, argument: str | None) -> None:
        # ASCII digits only: "²" is a digit to isdigit() that int() refuses.
        digits = argument or ""
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 15 and int(digits) >= 1):
            self.show(self.text("console_user_usage", user=self.user))
            return
        self.user = int(digits)
        self.driver.languages.setdefault(self.user, self.language)
        organiser = self.driver.services.config.is_admin(self.user)
        key = "console_user_organiser" if organiser else "console_user_now"
        self.show(self.text(key, user=self.user))

    async def wait(self, argument: str | None) -> None:
        try:
            delta = parse_duration(argument or "")
        except ValueError:
            delta = timedelta(0)
        if delta <= timedelta(0):
            self.show(self.text("console_wait_usage"))
            return
        self.clock.advance(delta)
        services = self.driver.services
        now = services.now().astimezone(services.config.zone)
        self.show(
            self.text(
                "console_waited",
                duration=(argument or "").strip(),
                now=now.strftime("%Y-%m-%d %H:%M"),
            )
        )
        self.busy = True
        try:
            # What fell due meanwhile: lapsed offers pass on, reminders and offers go out.
            await self.driver.run_job("offer-expiry")
            await self.driver.deliver_owed()
            self.flush()
        finally:
            self.busy = False

    async def watch(self) -> None:
        """Print what the bot sends on its own (the outbox, jobs) when it arrives."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if not self.busy:
                self.flush()


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


async def run_console(
    services_factory: Callable[[], Services],
    user_id: int,
    language: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    *,
    files: Path | None = None,
    organiser: int | None = DEFAULT_ORGANISER,
    database: str = "-",
) -> int:
    """The console on these streams. Documents are saved in `files` (`mao-bot console`: by
    default DEFAULT_FILES) and not at all without it; `organiser` is made an organiser;
    `database` names the services' database in the banner (without a password)."""
    clock = ConsoleClock()
    standin = ConsoleStandIn()
    erased: list[Callable[[int], None]] = []
    driver = BotDriver(as_demo(services_factory, organiser, clock, erased), standin)
    driver.languages[user_id] = language
    loop = asyncio.get_running_loop()
    async with driver:
        console = Console(driver, standin, clock, language, user_id, stdout, files)
        erased.append(console.forget)
        console.interactive = stdin.isatty()
        if console.interactive:
            banner = console.text(
                "console_banner",
                help=console.text("console_help"),
                user=user_id,
                organiser=organiser if organiser is not None else "-",
                files=str(files) if files is not None else "-",
                database=database,
            )
            console.show(banner)
        watcher = asyncio.create_task(console.watch(), name="console-watch")
        try:
            while True:
                if console.interactive:
                    console.at_prompt = True
                    print(console.prompt(), end="", file=stdout, flush=True)
                line = await loop.run_in_executor(None, stdin.readline)
                console.at_prompt = False
                if not line:
                    break
                text = line.rstrip("\n")
                if text.strip():
                    await console.handle(text)
            # What the last line set in motion, before the bot stops.
            console.busy = True
            await driver.deliver_owed()
            console.flush()
            if console.interactive:
                print(file=stdout)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    return 0
