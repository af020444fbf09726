"""Webhook mode: the bot's own small web server in front of the Application.

PTB's `run_webhook` serves only Telegram's updates; a load balancer also wants to know
whether an instance can do its work. So this server (tornado, as PTB's) answers:

- POST <path of telegram.webhook_url>: an update from Telegram. A request without the
  secret token (TELEGRAM_WEBHOOK_SECRET, required) in X-Telegram-Bot-Api-Secret-Token is
  refused (403); a body over MAX_BODY_BYTES is refused (400) from its Content-Length,
  before it is read. The update goes to `application.update_queue`, as PTB's own webhook
  server does; the answer (200) does not wait for it to be handled.
- GET /healthz: 200 {"ok": true, "database": "ok"} when the database answers, else 503.

Any instance may get any update (bot/persistence.py reads conversation state per update),
so several instances can run behind one load balancer without sticky routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import Update
from telegram.ext import Application

from bot.app import stop_application
from storage.db import Database, is_outage

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few kB (a message is at most 4,096 characters); tornado would
# otherwise read up to 100 MB of a body into memory before any handler sees it.
MAX_BODY_BYTES = 1024 * 1024
# A load balancer (and an operator) hears within a second; a database that takes longer to
# say SELECT 1 is not fit to serve.
HEALTH_TIMEOUT_SECONDS = 0.8


def webhook_path(webhook_url: str) -> str:
    """Serve on the path Telegram is told to call (a reverse proxy passes it on as is)."""
    return "/" + urlparse(webhook_url).path.lstrip("/")


class _UpdateHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("POST",)

    def initialize(self, bot_application: AnyApplication, secret_token: str) -> None:
        if not secret_token:
            raise ValueError("the webhook needs a secret token")
        self.bot_application = bot_application
        self.secret_token = secret_token

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret_token.encode()):
            logger.debug("Webhook request without the right secret token refused")
            raise tornado.web.HTTPError(403)
        try:
            data = json.loads(self.request.body)
            update = Update.de_json(data, self.bot_application.bot)
        except Exception:
            logger.warning("Webhook request that is not an update refused")
            raise tornado.web.HTTPError(400) from None
        await self.bot_application.update_queue.put(update)
        self.set_status(200)

    def log_exception(self, *args: Any) -> None:
        """The 403/400 above are logged once, without the request (it may hold the secret)."""


class _HealthHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD")

    def initialize(self, database: Database) -> None:
        self.database = database

    async def get(self) -> None:
        # Through the seam (never the event loop), and at once while the database is known
        # to be away. The reason is a kind ("timeout", "locked", "read-only",
        # "unreachable"), never an error text: the endpoint may be reachable from outside.
        database = self.database
        reason = None
        try:
            await database.run(
                database.ping, limit=HEALTH_TIMEOUT_SECONDS, slow_is_away=False, fail_fast=True
            )
        except Exception as error:
            reason = (database.health.reason if is_outage(error) else None) or "timeout"
        if reason is not None:
            logger.warning("Health check: database unreachable (%s)", reason)
            self.set_status(503)
            self.finish({"ok": False, "database": "unreachable", "reason": reason})
            return
        self.finish({"ok": True, "database": "ok"})

    async def head(self) -> None:
        await self.get()


class WebhookServer:
    """Serves Telegram's updates and /healthz on `listen`:`port` (port 0: any free one)."""

    def __init__(
        self,
        application: AnyApplication,
        database: Database,
        *,
        listen: str,
        port: int,
        path: str,
        secret_token: str,
    ) -> None:
        if not secret_token:
            raise ValueError("the webhook needs a secret token (TELEGRAM_WEBHOOK_SECRET)")
        self.app = tornado.web.Application(
            [
                (HEALTH_PATH, _HealthHandler, {"database": database}),
                (
                    re.escape(path),
                    _UpdateHandler,
                    {"bot_application": application, "secret_token": secret_token},
                ),
            ],
            log_function=lambda _handler: None,  # no access log: paths may be guessable
        )
        self.listen = listen
        self.port = port
        self._server: tornado.httpserver.HTTPServer | None = None

    async def start(self) -> None:
        sockets = tornado.netutil.bind_sockets(self.port, address=self.listen)
        self.port = sockets[0].getsockname()[1]
        # max_body_size: a larger Content-Length is answered 400 and the connection closed
        # before the body is read (a chunked body stops at the limit); max_buffer_size keeps
        # the read buffer at that size too.
        self._server = tornado.httpserver.HTTPServer(
            self.app, max_body_size=MAX_BODY_BYTES, max_buffer_size=2 * MAX_BODY_BYTES
        )
        self._server.add_sockets(sockets)
        logger.info("Webhook server listening on %s:%d", self.listen, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            await server.close_all_connections()


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where Telegram sends updates (`url`, behind the reverse proxy) and where this instance
    listens for them."""

    url: str
    listen: str
    port: int
    secret_token: str
    allowed_updates: Sequence[str]


async def start_webhook_instance(
    application: AnyApplication, database: Database, endpoint: WebhookEndpoint
) -> WebhookServer:
    """Initialise and start the Application, serve the webhook, tell Telegram where it is.

    The order is PTB's run_webhook's: the server listens before Telegram is told, so no
    update is refused; updates wait in the queue until the Application runs."""
    server = WebhookServer(
        application,
        database,
        listen=endpoint.listen,
        port=endpoint.port,
        path=webhook_path(endpoint.url),
        secret_token=endpoint.secret_token,
    )
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        await server.start()
        await application.bot.set_webhook(
            url=endpoint.url,
            allowed_updates=list(endpoint.allowed_updates),
            secret_token=endpoint.secret_token,
        )
        await application.start()
    except BaseException:
        await stop_webhook_instance(application, server)
        raise
    return server


async def stop_webhook_instance(application: AnyApplication, server: WebhookServer) -> None:
    """Stop taking updates, finish those in hand, then shut down (the webhook stays set:
    another instance, or this one's restart, takes the updates)."""
    await server.stop()
    await stop_application(application)


async def serve_webhook(
    application: AnyApplication, database: Database, endpoint: WebhookEndpoint
) -> None:
    """Run until SIGINT or SIGTERM (systemd's stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    server = await start_webhook_instance(application, database, endpoint)
    try:
        await stop.wait()
    finally:
        await stop_webhook_instance(application, server)
