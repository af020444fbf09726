"""A local stand-in of the Telegram Bot API, served on 127.0.0.1 only.

The console, the tests and the broadcast benchmark run the real Application against it:
every Bot API call travels over HTTP exactly as it would to Telegram, and the stand-in
records it. It can throttle (answering 429 with retry_after as Telegram does) and play
users who blocked the bot (403 Forbidden).

It can also misbehave on purpose, as Telegram and networks do, for tests of retries
(see `Fault`)::

    standin.inject(Fault.server_error(status=500, times=3, chat_id=42))
    standin.inject(Fault.reset())                              # connection dropped, no answer
    standin.inject(Fault.timeout(delivered=True, seconds=2))   # no answer, but delivered
    standin.inject(Fault.storm(retry_after=1, times=6))        # 429 with retry_after
    standin.inject(Fault.server_error(every=10))               # every 10th call fails
    standin.clear_faults()

Bookkeeping: `calls` holds the calls the stand-in answered successfully (plus, as always,
edits of unknown messages); `delivered(chat_id)` the messages that really reached a chat,
including those whose answer was lost to a `timeout(delivered=True)`; `fault_counts` the
injected faults by kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any, Literal

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from core.text_limits import TELEGRAM_TAGS

# Parameters PTB sends JSON-encoded; everything else (text, parse_mode, ...) arrives verbatim.
_JSON_PARAMETERS = frozenset(
    {
        "chat_id",
        "message_id",
        "reply_markup",
        "commands",
        "scope",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "show_alert",
        "disable_notification",
        "entities",
        "link_preview_options",
        "reply_parameters",
        "protect_content",
        "cache_time",
        "drop_pending_updates",
        "max_connections",
        "message_thread_id",
        "from_chat_id",
    }
)

BOT_USER = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "MAO bot",
    "username": "mao_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

SENDING_METHODS = frozenset({"sendMessage", "sendDocument", "copyMessage", "sendPhoto"})
EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup"})

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)

# What Telegram marks as a command at the start of a message: "/agenda", "/start@mao_bot".
BOT_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")


def command_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram gives a message's leading command: only letters, digits and _
    make one, and its length counts UTF-16 code units."""
    command = BOT_COMMAND.match(text)
    if command is None:
        return []
    length = len(command.group().encode("utf-16-le")) // 2
    return [{"type": "bot_command", "offset": 0, "length": length}]


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int) else None


@dataclass
class RateLimit:
    """Telegram's limits: a number of messages per second overall, per chat, and (with
    `per_group_per_minute`) per group chat in any minute. Beyond them: 429 with retry_after."""

    per_second: float
    per_chat_per_second: float = 1.0
    per_group_per_minute: float | None = None
    _window: deque[float] = field(default_factory=deque)
    _last_per_chat: dict[int, float] = field(default_factory=dict)
    _group_minutes: dict[int, deque[float]] = field(default_factory=dict)

    def check(self, chat_id: int | None, now: float) -> float | None:
        """None when allowed; otherwise the seconds to wait."""
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= self.per_second:
            return 1.0
        if chat_id is not None:
            last = self._last_per_chat.get(chat_id)
            if last is not None and now - last < 1.0 / self.per_chat_per_second:
                return 1.0
            minute = self._group_minute(chat_id, now)
            if minute is not None and len(minute) >= (self.per_group_per_minute or 0):
                return max(1.0, math.ceil(60.0 - (now - minute[0])))
            self._last_per_chat[chat_id] = now
            if minute is not None:
                minute.append(now)
        self._window.append(now)
        return None

    def _group_minute(self, chat_id: int, now: float) -> deque[float] | None:
        """The group's sends in the last minute (None: not a group, or no group limit)."""
        if self.per_group_per_minute is None or chat_id >= 0:
            return None
        minute = self._group_minutes.setdefault(chat_id, deque())
        while minute and now - minute[0] >= 60.0:
            minute.popleft()
        return minute


FaultKind = Literal["server_error", "reset", "timeout", "storm"]


@dataclass(eq=False)
class Fault:
    """One way for the stand-in to misbehave, injected with `BotApiStandIn.inject`.

    Matching: `method` None means any sending method (sendMessage, sendDocument, sendPhoto,
    copyMessage); otherwise exactly that Bot API method (e.g. "editMessageText"). `chat_id`
    None means any chat. Limits: `times` = how many matching calls it affects, after which
    it is used up; `every=N` = only every Nth matching call (counted by this fault), without
    end unless `times` is given too. With neither, `times` is 1.

    Kinds (a failed call is never delivered, unless noted):

    - server_error: HTTP `status` (5xx) with Telegram's JSON error body.
    - storm: 429 "Too Many Requests: retry after N" with parameters.retry_after = N.
    - reset: the TCP connection is reset (RST) without any HTTP response.
    - timeout: no answer for `seconds` (set the client's read timeout below that), then the
      connection is closed without answering; `delivered=True` delivers the message first.

    Prefer the constructors (`Fault.server_error(...)` etc.). `seen` and `hits` count the
    matching calls this fault saw and the calls it affected.
    """

    kind: FaultKind
    method: str | None = None
    chat_id: int | None = None
    times: int | None = None
    every: int | None = None
    status: int = 500
    retry_after: int = 1
    seconds: float = 10.0
    delivered: bool = False
    seen: int = field(default=0, init=False)
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in ("server_error", "reset", "timeout", "storm"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.times is None and self.every is None:
            self.times = 1
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1")
        if self.every is not None and self.every < 1:
            raise ValueError("every must be at least 1")
        if self.kind == "server_error" and not 500 <= self.status <= 599:
            raise ValueError("a server error has a 5xx status")
        if self.kind == "storm":
            self.status = 429
            if self.retry_after < 1:
                raise ValueError("retry_after must be at least 1 second")
        if self.seconds < 0:
            raise ValueError("seconds must not be negative")

    @classmethod
    def server_error(
        cls,
        status: int = 500,
        *,
        times: int | None = None,
        every: int | None = None,
        method: str | None = None,
        chat_id: int | None = None,
    ) -> Fault:
        """Answer HTTP `status` with {"ok": false, "error_code": status, ...}."""
        return cls("server_error", method, chat_id, times, every, status=status)

    @classmethod
    def storm(
        cls,
        retry_after: int = 1,
        *,
        times: int | None = None,
        every: int | None = None,
        method: str | None = None,
        chat_id: int | None = None,
    ) -> Fault:
        """Answer 429 Too Many Requests with parameters.retry_after (flood control)."""
        return cls("storm", method, chat_id, times, every, retry_after=retry_after)

    @classmethod
    def reset(
        cls,
        *,
        times: int | None = None,
        every: int | None = None,
        method: str | None = None,
        chat_id: int | None = None,
    ) -> Fault:
        """Reset the connection without answering."""
        return cls("reset", method, chat_id, times, every)

    @classmethod
    def timeout(
        cls,
        *,
        delivered: bool,
        seconds: float = 10.0,
        times: int | None = None,
        every: int | None = None,
        method: str | None = None,
        chat_id: int | None = None,
    ) -> Fault:
        """Hold the request for `seconds`, then close it unanswered (delivered or not)."""
        return cls("timeout", method, chat_id, times, every, seconds=seconds, delivered=delivered)

    @property
    def used_up(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, call: ApiCall, sending_methods: frozenset[str] = SENDING_METHODS) -> bool:
        if self.method is None:
            if call.method not in sending_methods:
                return False
        elif call.method != self.method:
            return False
        return self.chat_id is None or call.chat_id == self.chat_id

    def body(self) -> dict[str, Any]:
        """Telegram's error body (server_error and storm)."""
        if self.kind == "storm":
            return {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {self.retry_after}",
                "parameters": {"retry_after": self.retry_after},
            }
        return {
            "ok": False,
            "error_code": self.status,
            "description": _phrase(self.status),
        }


class BotApiStandIn:
    """Records calls, answers like Telegram, and feeds updates to getUpdates.

    With `strict_edits`, editMessageText/editMessageReplyMarkup that change nothing answer
    400 "message is not modified" as Telegram does (off by default: existing tests edit a
    keyboard-less message to remove its keyboard).
    """

    SENDING_METHODS = SENDING_METHODS

    def __init__(
        self,
        token: str = "123456:STANDIN",
        rate_limit: RateLimit | None = None,
        record_calls: bool = True,
        strict_edits: bool = True,
        latency: float = 0.0,
    ) -> None:
        self.token = token
        # Seconds each call (except getUpdates) takes before it is answered, like the round
        # trip to Telegram's servers (50-100 ms from a European VPS).
        self.latency = latency
        self.rate_limit = rate_limit
        self.record_calls = record_calls
        self.strict_edits = strict_edits
        self.calls: list[ApiCall] = []
        # Calls refused as Telegram would refuse them, with the reason.
        self.rejected: list[tuple[ApiCall, str]] = []
        self.blocked_chats: set[int] = set()
        # Messages the bot may no longer delete (Telegram: in a group, after 48 hours).
        self.undeletable: set[tuple[int, int]] = set()
        self.too_many_requests = 0
        self.sent_count = 0
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1000)
        )
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.force_reply: set[tuple[int, int]] = set()  # messages sent with ForceReply
        self._new_update = asyncio.Event()
        self.closing = False
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0
        # Fault injection. The lock only matters when faults are injected from another
        # thread; within the event loop, choosing and counting a fault never awaits.
        self.faults: list[Fault] = []
        self.fault_counts: Counter[str] = Counter()
        self.fault_log: list[tuple[FaultKind, ApiCall]] = []
        self._fault_lock = threading.Lock()
        self._delivered: list[ApiCall] = []
        self._held: set[tornado.iostream.IOStream] = set()
        self._release = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.closing = False
        self._release = asyncio.Event()
        app = tornado.web.Application(
            [(r"/(file/)?bot([^/]+)/(\w+)", _ApiHandler, {"api": self})],
            log_function=lambda _handler: None,  # request paths contain the token
        )
        sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(app, max_body_size=60 * 1024 * 1024)
        self._server.add_sockets(sockets)

    async def stop(self) -> None:
        self.closing = True
        self._new_update.set()
        self._release.set()  # requests held by a timeout fault end now, unanswered
        for stream in list(self._held):
            stream.close()
        self._held.clear()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- faults ------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """Add a fault after those already active; the first matching one applies."""
        with self._fault_lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove all faults (the counters and the fault log stay)."""
        with self._fault_lock:
            self.faults.clear()

    def _take_fault(self, call: ApiCall) -> Fault | None:
        with self._fault_lock:
            for fault in self.faults:
                if fault.used_up or not fault.matches(call, self.SENDING_METHODS):
                    continue
                fault.seen += 1
                if fault.every is not None and fault.seen % fault.every:
                    continue
                fault.hits += 1
                self.fault_counts[fault.kind] += 1
                if self.record_calls:
                    self.fault_log.append((fault.kind, call))
                return fault
        return None

    async def _hold(self, stream: tornado.iostream.IOStream, seconds: float) -> None:
        """Keep a request unanswered for `seconds`, or until `stop()`."""
        self._held.add(stream)
        try:
            # asyncio.timeout: Python 3.11's wait_for may swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._release.wait()
        finally:
            self._held.discard(stream)

    # -- what was delivered ----------------------------------------------------------------------

    def delivered(self, chat_id: int | None = None) -> list[ApiCall]:
        """Sending calls that delivered a message (to `chat_id`, or to any chat), in order.

        Includes deliveries whose answer was lost (`Fault.timeout(delivered=True)`), which
        are not in `calls`. Empty when the stand-in does not record calls.
        """
        return [c for c in self._delivered if chat_id is None or c.chat_id == chat_id]

    def delivered_texts(self, chat_id: int | None = None) -> list[str]:
        """The text (or else caption, or else "") of each message in `delivered(chat_id)`."""
        return [
            str(c.params.get("text", c.params.get("caption", ""))) for c in self.delivered(chat_id)
        ]

    # -- updates (what users do) -----------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._new_update.set()
        return update_id

    def user_message(
        self,
        user: dict[str, Any],
        text: str,
        *,
        chat: dict[str, Any] | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> int:
        """A text from `user` in their private chat, or in `chat` (a group); `reply_to` is the
        message it replies to (as Telegram sends reply_to_message)."""
        chat = chat or {
            "id": user["id"],
            "type": "private",
            "first_name": user.get("first_name", ""),
        }
        message_id = next(self._message_ids[chat["id"]])
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return self.push_update({"message": message})

    def press_button(self, user: dict[str, Any], message: dict[str, Any], data: str) -> int:
        return self.push_update(
            {
                "callback_query": {
                    "id": str(next(self._update_ids) + 10_000_000),
                    "from": user,
                    "chat_instance": str(user["id"]),
                    "message": message,
                    "data": data,
                }
            }
        )

    async def next_updates(self, offset: int, wait_seconds: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait_seconds
        while not self.closing:
            pending = [u for u in self._updates if u["update_id"] >= offset]
            self._updates = pending
            if pending:
                return pending
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._new_update.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._new_update.wait()
            except TimeoutError:
                return []
        return []

    # -- answering the bot -----------------------------------------------------------------------

    def _new_message(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(time.time()),
            # Negative ids are groups (a supergroup's starts with -100), as on Telegram.
            "chat": {"id": chat_id, "type": "private"}
            if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "Groep"},
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        elif isinstance(markup, dict) and markup.get("force_reply"):
            # Telegram's message carries only inline keyboards; the client opens the reply
            # box for a ForceReply (the console replies to it with a plain line).
            self.force_reply.add((chat_id, message["message_id"]))
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def answer(self, call: ApiCall, *, answered: bool = True) -> tuple[int, dict[str, Any]]:
        """Carry out a call and return Telegram's answer (HTTP status, JSON body).

        `answered=False` carries it out without recording it in `calls` (its answer is lost);
        a delivered message is still recorded for `delivered()`.
        """
        method, params = call.method, call.params
        refusal = invalid_message(method, params)
        if refusal is not None:
            # What Telegram would refuse (bad HTML, too long, a bad button): a bug in the bot.
            self.rejected.append((call, refusal))
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {refusal}"}
        if method in self.SENDING_METHODS:
            chat_id = call.chat_id
            if self.rate_limit is not None:
                wait = self.rate_limit.check(chat_id, time.monotonic())
                if wait is not None:
                    self.too_many_requests += 1
                    return 429, {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {int(wait)}",
                        "parameters": {"retry_after": int(wait)},
                    }
            if chat_id in self.blocked_chats:
                return 403, {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                }
            self.sent_count += 1
        elif self.strict_edits and method in EDIT_METHODS and self._not_modified(method, params):
            return 400, {"ok": False, "error_code": 400, "description": NOT_MODIFIED}
        elif method == "deleteMessage":
            refusal = self._refuse_delete(params)
            if refusal is not None:
                return 400, {"ok": False, "error_code": 400, "description": refusal}
        if self.record_calls and answered:
            self.calls.append(call)
        result = self._result(method, params, call.files)
        if self.record_calls and method in self.SENDING_METHODS:
            self._delivered.append(call)
        if result is None:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message to edit not found",
            }
        return 200, {"ok": True, "result": result}

    def _refuse_delete(self, params: dict[str, Any]) -> str | None:
        """Telegram's refusal of a deleteMessage, or None when the message goes."""
        try:
            key = (int(params["chat_id"]), int(params["message_id"]))
        except (KeyError, TypeError, ValueError):
            return "Bad Request: message identifier is not specified"
        if key not in self.messages:
            return "Bad Request: message to delete not found"
        if key in self.undeletable:
            return "Bad Request: message can't be deleted"
        del self.messages[key]
        return None

    def _not_modified(self, method: str, params: dict[str, Any]) -> bool:
        """Whether an edit would leave the message's text and keyboard exactly as they are."""
        try:
            current = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        except (KeyError, TypeError, ValueError):
            return False
        if current is None:
            return False  # "message to edit not found"
        text = params.get("text") if method == "editMessageText" else current.get("text")
        markup = params.get("reply_markup")
        return text == current.get("text") and _keyboard(markup) == _keyboard(
            current.get("reply_markup")
        )

    def _result(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in {"sendMessage", "sendPhoto", "copyMessage"}:
            return self._new_message(int(params["chat_id"]), params)
        if method == "sendDocument":
            message = self._new_message(int(params["chat_id"]), params)
            name, _ = next(iter(files.values()), ("document", b""))
            message["document"] = {
                "file_id": f"doc{message['message_id']}",
                "file_unique_id": f"u{message['message_id']}",
                "file_name": name,
            }
            if "caption" in params:
                message["caption"] = params["caption"]
            return message
        if method in EDIT_METHODS:
            key = (int(params["chat_id"]), int(params["message_id"]))
            edited = self.messages.get(key)
            if edited is None:
                return None
            message = edited
            if "text" in params:
                message["text"] = params["text"]
            if _keyboard(params.get("reply_markup")) is not None:
                message["reply_markup"] = params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            return message
        if method == "getMyCommands":
            return []
        return True


class _ApiHandler(tornado.web.RequestHandler):
    def initialize(self, api: BotApiStandIn) -> None:
        self.api = api

    async def post(self, _file: str | None, token: str, method: str) -> None:
        await self._handle(token, method)

    async def get(self, _file: str | None, token: str, method: str) -> None:
        await self._handle(token, method)

    async def _handle(self, token: str, method: str) -> None:
        if token != self.api.token:
            self.set_status(401)
            self.finish({"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        params = {
            name: _decode(name, values[-1].decode("utf-8"))
            for name, values in self.request.body_arguments.items()
        }
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            params.update(json.loads(self.request.body or b"{}"))
        files = {
            name: (items[0].filename, items[0].body) for name, items in self.request.files.items()
        }
        call = ApiCall(method, params, files)
        fault = self.api._take_fault(call)
        if fault is not None:
            await self._misbehave(fault, call)
            return
        if method == "getUpdates":
            updates = await self.api.next_updates(
                int(params.get("offset") or 0), float(params.get("timeout") or 0)
            )
            self.finish({"ok": True, "result": updates})
            return
        if self.api.latency > 0:
            await asyncio.sleep(self.api.latency)
        status, body = self.api.answer(call)
        self.set_status(status)
        self.finish(body)

    async def _misbehave(self, fault: Fault, call: ApiCall) -> None:
        if fault.kind in ("server_error", "storm"):
            self.set_status(fault.status)
            self.finish(fault.body())
            return
        if fault.kind == "timeout" and fault.delivered:
            self.api.answer(call, answered=False)
        # Take the connection from tornado: it will never carry an HTTP response.
        stream = self.detach()
        if fault.kind == "timeout":
            await self.api._hold(stream, fault.seconds)
        else:
            with contextlib.suppress(OSError):  # linger 0: close() sends RST, not FIN
                stream.socket.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        stream.close()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


def _keyboard(markup: Any) -> Any:
    """A reply markup as compared by Telegram: no keyboard and an empty one are the same."""
    if not isinstance(markup, dict) or not markup:
        return None  # PTB sends InlineKeyboardMarkup([]) as {}
    if "inline_keyboard" in markup and not any(markup["inline_keyboard"] or ()):
        return None
    return markup


def _decode(name: str, raw: str) -> Any:
    if name not in _JSON_PARAMETERS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64


class _HtmlText(HTMLParser):
    """Parses Telegram HTML as Telegram does: known tags only, balanced, entities valid."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problem = self.problem or f'unsupported start tag "{tag}"'
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = self.problem or f'unexpected end tag "{tag}"'
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# Telegram knows numeric entities and only four named ones.
_BARE_AMPERSAND = re.compile(r"&(?!(?:#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);)")
_BARE_LESS_THAN = re.compile(r"<(?![A-Za-z/])")


def html_text(text: str) -> tuple[str, str | None]:
    """The visible text of Telegram HTML, and what Telegram would refuse in it (or None)."""
    if _BARE_AMPERSAND.search(text) or _BARE_LESS_THAN.search(text):
        return text, "can't parse entities: unescaped & or <"
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    if parser.problem is None and parser.open:
        parser.problem = f'can\'t parse entities: unclosed tag "{parser.open[-1]}"'
    elif parser.problem is not None:
        parser.problem = f"can't parse entities: {parser.problem}"
    return "".join(parser.text), parser.problem


def invalid_message(method: str, params: dict[str, Any]) -> str | None:
    """Why Telegram would answer 400 to this call, or None: HTML, lengths, buttons."""
    html = str(params.get("parse_mode", "")).upper() == "HTML"
    for field_name, limit in (("text", MAX_TEXT), ("caption", MAX_CAPTION)):
        value = params.get(field_name)
        if not isinstance(value, str):
            continue
        visible, problem = html_text(value) if html else (value, None)
        if problem:
            return problem
        if field_name == "text" and not visible.strip() and method != "answerCallbackQuery":
            return "message text is empty"
        if len(visible) > limit:
            return f"{field_name} is too long"
    markup = params.get("reply_markup")
    if isinstance(markup, dict):
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not str(button.get("text", "")).strip():
                    return "text buttons are unallowed in the inline keyboard"
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    return "BUTTON_DATA_INVALID"
    return None
