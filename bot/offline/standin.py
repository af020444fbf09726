"""A local stand-in of the Telegram Bot API, served on 127.0.0.1 only.

The console, the tests and the broadcast benchmark run the real Application against it:
every Bot API call travels over HTTP exactly as it would to Telegram, and the stand-in
records it. It can throttle (answering 429 with retry_after as Telegram does) and play
users who blocked the bot (403 Forbidden).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

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
    """Telegram's limits: a number of messages per second overall, and per chat."""

    per_second: float
    per_chat_per_second: float = 1.0
    _window: deque[float] = field(default_factory=deque)
    _last_per_chat: dict[int, float] = field(default_factory=dict)

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
            self._last_per_chat[chat_id] = now
        self._window.append(now)
        return None


class BotApiStandIn:
    """Records calls, answers like Telegram, and feeds updates to getUpdates."""

    SENDING_METHODS = frozenset({"sendMessage", "sendDocument", "copyMessage", "sendPhoto"})

    def __init__(
        self,
        token: str = "123456:STANDIN",
        rate_limit: RateLimit | None = None,
        record_calls: bool = True,
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.record_calls = record_calls
        self.calls: list[ApiCall] = []
        self.blocked_chats: set[int] = set()
        self.too_many_requests = 0
        self.sent_count = 0
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1000)
        )
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._new_update = asyncio.Event()
        self.closing = False
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.closing = False
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

    # -- updates (what users do) -----------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._new_update.set()
        return update_id

    def user_message(self, user: dict[str, Any], text: str) -> int:
        chat = {"id": user["id"], "type": "private", "first_name": user.get("first_name", "")}
        message_id = next(self._message_ids[user["id"]])
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
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
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                return []
        return []

    # -- answering the bot -----------------------------------------------------------------------

    def _new_message(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        if "reply_markup" in params and isinstance(params["reply_markup"], dict):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def answer(self, call: ApiCall) -> tuple[int, dict[str, Any]]:
        method, params = call.method, call.params
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
        if self.record_calls:
            self.calls.append(call)
        result = self._result(method, params, call.files)
        if result is None:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message to edit not found",
            }
        return 200, {"ok": True, "result": result}

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
        if method in {"editMessageText", "editMessageReplyMarkup"}:
            key = (int(params["chat_id"]), int(params["message_id"]))
            edited = self.messages.get(key)
            if edited is None:
                return None
            message = edited
            if "text" in params:
                message["text"] = params["text"]
            if isinstance(params.get("reply_markup"), dict):
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
        if method == "getUpdates":
            updates = await self.api.next_updates(
                int(params.get("offset") or 0), float(params.get("timeout") or 0)
            )
            self.finish({"ok": True, "result": updates})
            return
        status, body = self.api.answer(ApiCall(method, params, files))
        self.set_status(status)
        self.finish(body)


def _decode(name: str, raw: str) -> Any:
    if name not in _JSON_PARAMETERS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw
