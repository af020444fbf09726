"""Any update on any instance: two webhook instances share one PostgreSQL database behind a
round-robin proxy (no sticky routing), with migrations that are safe to run at once."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web
from sqlalchemy import func, select, text
from telegram.ext import ApplicationBuilder

from bot.app import allowed_updates, build_application, prepare_storage
from bot.config import AppConfig
from bot.offline.driver import ObservedApplication, buttons_of, user_dict
from bot.offline.standin import ApiCall, BotApiStandIn
from bot.services import build_services
from bot.webhook import (
    SECRET_HEADER,
    WebhookEndpoint,
    WebhookServer,
    start_webhook_instance,
    stop_webhook_instance,
)
from core.services import Services
from storage.activities import ActivitySpec, Localised, upsert_activities
from storage.db import Database
from storage.models import Activity, ConversationState, OutboxMessage, Registration, UserData
from storage.outbox import OutboxKind, plan_reminders
from storage.vocabulary import RegistrationStatus, Role

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
ZONE = ZoneInfo("Europe/Amsterdam")
SECRET = "multi-instance-s3cret"
# Short, so that a quiet sign-up times out during the test (see the timer check below), and
# long enough that a busy machine never lets the other sign-up time out between two steps.
SIGNUP_TIMEOUT = timedelta(seconds=5)
PARENT, QUIET = 3101, 3102
# Enough that both instances' senders take a share: each looks for owed messages once a second.
REMINDED = range(700_000, 700_200)
SIGNED_UP = "Je bent aangemeld"
TIMED_OUT = "Je aanmelding is gestopt omdat het even stil bleef"
WAIT_SECONDS = 20.0
REMINDERS_SECONDS = 60.0


# -- migrations ----------------------------------------------------------------------------------


def upgrade_at_once(url: str, times: int = 2) -> list[BaseException]:
    """`times` instances upgrading the same fresh database at the same moment."""
    barrier = threading.Barrier(times)
    errors: list[BaseException] = []

    def upgrade() -> None:
        database = Database(url)
        try:
            barrier.wait()
            database.upgrade()
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            database.dispose()

    threads = [threading.Thread(target=upgrade) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def versions(url: str) -> list[str]:
    database = Database(url)
    try:
        with database.reading() as session:
            return list(session.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        database.dispose()


def test_two_instances_migrate_a_fresh_postgresql_database_at_once(postgres_url: str) -> None:
    assert upgrade_at_once(postgres_url) == []
    [version] = versions(postgres_url)
    assert version.startswith("00")


def test_two_instances_migrate_a_fresh_sqlite_file_at_once(db_url: str) -> None:
    assert upgrade_at_once(db_url) == []
    assert len(versions(db_url)) == 1


# -- two webhook instances behind a round-robin proxy --------------------------------------------


class RoundRobinProxy:
    """A load balancer without sticky routing: each update POST goes to the next instance."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.routed: list[tuple[int, int]] = []  # (update_id, backend index)
        self._turns = itertools.count()
        self._client = tornado.httpclient.AsyncHTTPClient()
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        proxy = self

        class Forward(tornado.web.RequestHandler):
            async def post(self, path: str) -> None:
                index = next(proxy._turns) % len(proxy.backends)
                proxy.routed.append((json.loads(self.request.body)["update_id"], index))
                response = await proxy._client.fetch(
                    f"{proxy.backends[index]}/{path}",
                    method="POST",
                    body=self.request.body,
                    headers={
                        "Content-Type": "application/json",
                        SECRET_HEADER: self.request.headers.get(SECRET_HEADER, ""),
                    },
                    raise_error=False,
                )
                self.set_status(response.code)

        app = tornado.web.Application([(r"/(.*)", Forward)], log_function=lambda _h: None)
        sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()


@dataclass
class Instance:
    application: ObservedApplication
    server: WebhookServer
    services: Services

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@dataclass
class Cluster:
    standin: BotApiStandIn
    proxy: RoundRobinProxy
    instances: list[Instance]
    hook_path: str = "/telegram/hook"
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _query_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def db(self) -> Database:
        return self.instances[0].services.db

    async def send(self, update: dict[str, Any], chat_id: int) -> list[ApiCall]:
        """POST an update to the proxy, as Telegram would; the calls it caused in the chat."""
        update_id = next(self._update_ids)
        before = len(self.standin.calls)
        response = await tornado.httpclient.AsyncHTTPClient().fetch(
            f"{self.proxy.url}{self.hook_path}",
            method="POST",
            body=json.dumps({"update_id": update_id, **update}),
            headers={"Content-Type": "application/json", SECRET_HEADER: SECRET},
            raise_error=False,
        )
        assert response.code == 200
        events = [
            asyncio.ensure_future(i.application.processed_event(update_id).wait())
            for i in self.instances
        ]
        _, pending = await asyncio.wait(
            events, timeout=WAIT_SECONDS, return_when="FIRST_COMPLETED"
        )
        for event in pending:
            event.cancel()
        assert len(pending) == 1, f"update {update_id} not handled"
        return [c for c in self.standin.calls[before:] if c.chat_id in (chat_id, None)]

    async def say(self, user_id: int, text: str) -> list[ApiCall]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": user_dict(user_id),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self.send({"message": message}, user_id)

    async def press(self, user_id: int, label: str) -> list[ApiCall]:
        message = next(
            m
            for (chat, _), m in reversed(self.standin.messages.items())
            if chat == user_id and buttons_of(m)
        )
        data = next(d for name, d in buttons_of(message) if label.lower() in name.lower())
        query = {
            "id": str(next(self._query_ids)),
            "from": user_dict(user_id),
            "chat_instance": str(user_id),
            "message": message,
            "data": data,
        }
        return await self.send({"callback_query": query}, user_id)

    def sent_to(self, chat_id: int, containing: str) -> int:
        return sum(
            1
            for c in self.standin.calls
            if c.method == "sendMessage"
            and c.chat_id == chat_id
            and containing in str(c.params.get("text", ""))
        )


def texts(calls: list[ApiCall]) -> list[str]:
    return [str(c.params.get("text", "")) for c in calls if c.method == "sendMessage"]


async def until(condition: Any, what: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def instance_config(config: AppConfig, postgres_url: str) -> AppConfig:
    return config.model_copy(
        update={
            "storage": config.storage.model_copy(update={"url": postgres_url}),
            "activities": config.activities.model_copy(update={"file": TEST_ACTIVITIES}),
            "signup": config.signup.model_copy(update={"timeout": SIGNUP_TIMEOUT}),
            # The reminders in a few seconds: the stand-in does not throttle.
            "broadcast": config.broadcast.model_copy(update={"messages_per_second": 1000}),
        }
    )


@pytest.fixture
async def cluster(instance_config: AppConfig) -> AsyncIterator[Cluster]:
    standin = BotApiStandIn()
    await standin.start()
    proxy = RoundRobinProxy()
    await proxy.start()
    services: list[Services] = []
    for _ in range(2):
        one = build_services(instance_config)
        telegram = one.config.telegram.model_copy(
            update={"base_url": standin.base_url, "base_file_url": standin.base_file_url}
        )
        one.config = one.config.model_copy(update={"telegram": telegram})
        services.append(one)
    # Both start at once: migrations take turns (the activities file is then loaded by
    # each, one after the other).
    await asyncio.gather(*(asyncio.to_thread(one.db.upgrade) for one in services))
    for one in services:
        await asyncio.to_thread(prepare_storage, one)
    instances: list[Instance] = []
    try:
        for one in services:
            application = build_application(
                one, standin.token, application_class=ObservedApplication
            )
            assert isinstance(application, ObservedApplication)
            endpoint = WebhookEndpoint(
                url=f"{proxy.url}/telegram/hook",
                listen="127.0.0.1",
                port=0,
                secret_token=SECRET,
                allowed_updates=allowed_updates(),
            )
            server = await start_webhook_instance(application, one.db, endpoint)
            instances.append(Instance(application, server, one))
        proxy.backends = [instance.url for instance in instances]
        yield Cluster(standin, proxy, instances)
    finally:
        for instance in instances:
            await stop_webhook_instance(instance.application, instance.server)
        await proxy.stop()
        await standin.stop()
    assert standin.rejected == []


async def get(url: str) -> tuple[int, Any]:
    response = await tornado.httpclient.AsyncHTTPClient().fetch(url, raise_error=False)
    return response.code, json.loads(response.body) if response.body else None


def owe_due_reminders(db: Database, users: range) -> None:
    """`users` signed up three hours ago for an activity that starts in an hour: the
    reminder two hours before is due now."""
    now = datetime.now(UTC)
    planned_at = now - timedelta(hours=3)
    starts = now + timedelta(hours=1)
    spec = ActivitySpec.model_validate(
        {
            "slug": "herinnering-voor-velen",
            "kind": "dialoog",
            "title": Localised(nl="Dialoog voor velen", en="Dialogue for many"),
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "location": "Arnhem",
            "reminders": ["2h"],
        }
    )
    with db.session() as session:
        upsert_activities(session, (spec,), ZONE, planned_at)
        activity = session.scalars(select(Activity).where(Activity.slug == spec.slug)).one()
        registrations = [
            Registration(
                activity_id=activity.id,
                user_id=user,
                name=f"Ouder {user}",
                role=Role.OUDER,
                status=RegistrationStatus.REGISTERED,
                registered_at=planned_at,
                queued_at=planned_at,
                consent_at=planned_at,
                updated_at=planned_at,
            )
            for user in users
        ]
        session.add_all(registrations)
        session.flush()
        for registration in registrations:
            plan_reminders(session, activity, registration, planned_at)


@pytest.mark.slow
async def test_any_update_on_any_instance(cluster: Cluster) -> None:
    started = time.monotonic()
    a, b = cluster.instances

    # Both instances answer /healthz, with the database reachable.
    for instance in (a, b):
        assert await get(f"{instance.url}/healthz") == (200, {"ok": True, "database": "ok"})
    # The webhook refuses a request without the secret token.
    refused = await tornado.httpclient.AsyncHTTPClient().fetch(
        f"{a.url}/telegram/hook", method="POST", body="{}", raise_error=False
    )
    assert refused.code == 403

    # A sign-up left quiet after two steps, each on another instance: only the instance
    # that handled the last step may end it (the other's timer finds it went on elsewhere).
    await cluster.say(QUIET, "/start signup_kleine-dialoog")
    await cluster.press(QUIET, "Ouder")
    quiet_since = time.monotonic()

    # One parent's sign-up, every step on the other instance than the step before.
    first_step = len(cluster.proxy.routed)
    await cluster.say(PARENT, "/start signup_kleine-dialoog")
    assert "Wat is je naam" in texts(await cluster.press(PARENT, "Ouder"))[0]
    assert "e-mailadres" in texts(await cluster.say(PARENT, "Anna de Vries"))[0]
    await cluster.press(PARENT, "Overslaan")
    await cluster.press(PARENT, "Geen vraag")
    summary = texts(await cluster.press(PARENT, "akkoord"))[0]
    assert "Anna de Vries, Ouder" in summary
    await cluster.press(PARENT, "Bevestigen")
    routes = [index for _, index in cluster.proxy.routed[first_step:]]
    assert routes in ([0, 1, 0, 1, 0, 1, 0], [1, 0, 1, 0, 1, 0, 1])
    for update_id, index in cluster.proxy.routed:
        assert cluster.instances[index].application.processed_event(update_id).is_set()

    await until(lambda: cluster.sent_to(PARENT, SIGNED_UP) >= 1, "the confirmation")
    with cluster.db.reading() as session:
        rows = session.execute(
            select(Registration.user_id, Registration.name, Registration.status).where(
                Registration.user_id == PARENT
            )
        ).all()
        assert [tuple(row) for row in rows] == [(PARENT, "Anna de Vries", "registered")]
        assert (
            session.scalar(
                select(func.count())
                .select_from(ConversationState)
                .where(ConversationState.key.contains(str(PARENT)))
            )
            == 0
        )

    # 200 reminders due now, with both instances' outbox senders running.
    reminders_from = time.monotonic()
    await asyncio.to_thread(owe_due_reminders, cluster.db, REMINDED)

    def reminded() -> Counter[int]:
        return Counter(
            c.chat_id or 0
            for c in cluster.standin.calls
            if c.method == "sendMessage"
            and c.chat_id in REMINDED
            and "Herinnering" in str(c.params.get("text", ""))
        )

    # Generous: on a busy shared machine the two senders manage 50-80 reminders a second.
    await until(lambda: len(reminded()) == len(REMINDED), "the reminders", REMINDERS_SECONDS)
    reminders_took = time.monotonic() - reminders_from
    await asyncio.sleep(1.5)  # a second round of both senders: nothing is sent again
    assert set(reminded().values()) == {1}
    with cluster.db.reading() as session:
        statuses = session.execute(
            select(OutboxMessage.status, OutboxMessage.sender, func.count())
            .where(OutboxMessage.kind == OutboxKind.REMINDER, OutboxMessage.user_id.in_(REMINDED))
            .group_by(OutboxMessage.status, OutboxMessage.sender)
        ).all()
    assert {status for status, _, _ in statuses} == {"sent"}
    assert sum(count for _, _, count in statuses) == len(REMINDED)
    senders = {sender: count for _, sender, count in statuses}
    assert len(senders) == 2, senders  # both instances sent a share

    # The confirmation went out once, although both senders were looking.
    assert cluster.sent_to(PARENT, SIGNED_UP) == 1

    # The quiet sign-up: told once that it stopped, and gone from the database.
    await until(lambda: cluster.sent_to(QUIET, TIMED_OUT) >= 1, "the timeout notice")
    remaining = quiet_since + SIGNUP_TIMEOUT.total_seconds() + 1.0 - time.monotonic()
    await asyncio.sleep(max(remaining, 0.5))  # both timers have fired by now
    assert cluster.sent_to(QUIET, TIMED_OUT) == 1
    with cluster.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ConversationState)) == 0
        drafts = session.scalars(select(UserData.data).where(UserData.user_id == QUIET)).all()
        assert not any("signup" in json.loads(draft) for draft in drafts)

    # Shown with -s: the figures for the report.
    print(
        f"\nmulti-instance: reminders {len(REMINDED)} in {reminders_took:.1f} s "
        f"({senders}), whole test {time.monotonic() - started:.1f} s"
    )


async def test_healthz_reports_an_unreachable_database() -> None:
    application = ApplicationBuilder().token("123456:UNUSED").build()
    unreachable = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    server = WebhookServer(
        application,
        unreachable,
        listen="127.0.0.1",
        port=0,
        path="/telegram/hook",
        secret_token=SECRET,
    )
    await server.start()
    try:
        code, body = await get(f"http://127.0.0.1:{server.port}/healthz")
    finally:
        await server.stop()
        unreachable.dispose()
    assert (code, body) == (503, {"ok": False, "database": "unreachable", "reason": "unreachable"})
