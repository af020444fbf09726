"""/cijfers (/stats) and `mao-bot stats`: the same figures, computed in storage.statistics."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import update

from bot import cli
from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.services import build_services
from core.charts import PNG_SIGNATURE
from storage.activities import ActivitySpec, get_activity, upsert_activities
from storage.broadcasts import create_broadcast
from storage.feedback import save_stars
from storage.models import Registration
from storage.outbox import broadcast_tally
from storage.registrations import SignupDetails, register
from storage.users import set_flags, touch_user
from storage.vocabulary import Recipients, Role

ZONE = ZoneInfo("Europe/Amsterdam")
OPTED_OUT, BLOCKED, QUIET, WAITING = 5001, 5002, 5003, 5004


def activity(
    slug: str, title: str, starts_in: timedelta, clock: FakeClock, **extra: object
) -> ActivitySpec:
    starts = clock() + starts_in
    values: dict[str, object] = {
        "slug": slug,
        "kind": "dialoog",
        "title": {"nl": title, "en": title},
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "location": "Arnhem",
        "reminders": [],
    }
    values.update(extra)
    return ActivitySpec.model_validate(values)


async def seed(driver: BotDriver, clock: FakeClock) -> int:
    """A past dialogue (three seats: present, absent, unknown; two feedback answers), an
    upcoming one (two seats, two waiting), one announcement. Returns the announcement's id."""
    services = driver.services
    with services.db.session() as session:
        upsert_activities(
            session,
            (
                activity("voorbij", "Afgelopen dialoog", timedelta(days=1), clock),
                activity("straks", "Komende dialoog", timedelta(days=20), clock, capacity=2),
            ),
            ZONE,
            clock(),
        )
        past = get_activity(session, "voorbij")
        coming = get_activity(session, "straks")
        assert past is not None and coming is not None
        for user in (OPTED_OUT, BLOCKED, QUIET, WAITING):
            touch_user(session, user, clock())
            details = SignupDetails(f"Deelnemer {user}", Role.OUDER, None, None, None)
            if user != WAITING:
                register(session, past.id, user, details, clock(), join_waitlist=True)
            register(session, coming.id, user, details, clock(), join_waitlist=True)
        set_flags(session, OPTED_OUT, announcements_opt_out=True)
        set_flags(session, BLOCKED, blocked=True)
        for user, present in ((OPTED_OUT, True), (BLOCKED, False)):
            session.execute(
                update(Registration)
                .where(Registration.activity_id == past.id, Registration.user_id == user)
                .values(attended=present)
            )
        save_stars(session, past.id, OPTED_OUT, 4, clock())
        save_stars(session, past.id, QUIET, 2, clock())
    await driver.deliver_owed()
    # Three questions through the chat: answered, "did you mean", not answered.
    await driver.say(QUIET, "wat is een fieldlab")
    await driver.say(QUIET, "activiteit")
    await driver.say(QUIET, "hoe laat is het in Tokio")
    clock.advance(timedelta(days=2))
    with services.db.session() as session:
        broadcast_id = create_broadcast(
            session, ADMIN_ID, Recipients.EVERYONE, None, "Nieuws", clock()
        )
    await driver.deliver_owed()
    return broadcast_id


async def test_stats_in_chat_with_chart(driver: BotDriver, clock: FakeClock) -> None:
    broadcast_id = await seed(driver, clock)
    with driver.services.db.session() as session:
        sent = broadcast_tally(session, broadcast_id).sent
    calls = await driver.say(ADMIN_ID, "/cijfers")
    shown = texts(calls)[0]
    # Four seeded users and the organiser; one opted out, one blocked.
    assert "Totaal 5 · actief (30 dagen) 5 · geen aankondigingen 1 · geblokkeerd 1" in shown
    assert "Komende dialoog" in shown and "2/2 aangemeld (100%) · wachtlijst 2" in shown
    assert "Afgelopen dialoog" in shown
    assert "aanwezig 1 · afwezig 1 · onbekend 1 · reacties 2 (gemiddeld 3,0)" in shown
    assert "7 dagen: beantwoord 1 · “Bedoelde je…” 1 · niet beantwoord 1" in shown
    assert f"afgeleverd {sent} · onbevestigd 0 · geblokkeerd 0 · mislukt 0" in shown
    assert sent >= 1
    photos = [c for c in calls if c.method == "sendPhoto"]
    assert len(photos) == 1 and photos[0].chat_id == ADMIN_ID
    (_, content), *_ = photos[0].files.values()
    assert content.startswith(PNG_SIGNATURE)


async def test_stats_in_english(driver: BotDriver, clock: FakeClock) -> None:
    await seed(driver, clock)
    await driver.say(ADMIN_ID, "/language")
    await driver.press(ADMIN_ID, "English")
    calls = await driver.say(ADMIN_ID, "/stats")
    shown = texts(calls)[0]
    assert "2/2 signed up (100%) · waiting list 2" in shown
    assert "(average 3.0)" in shown


async def test_cli_prints_the_same_figures(
    driver: BotDriver,
    clock: FakeClock,
    config: AppConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broadcast_id = await seed(driver, clock)
    with driver.services.db.session() as session:
        sent = broadcast_tally(session, broadcast_id).sent
    await driver.say(ADMIN_ID, "/start")  # the organiser is a user too, as in chat
    monkeypatch.setattr(cli, "_load", lambda args: config)
    monkeypatch.setattr(cli, "build_services", lambda cfg: build_services(cfg, clock))
    assert cli.main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "users: 5 total, 5 active (30 days), 1 opted out of announcements, 1 blocked" in out
    assert "straks" in out and "2/2 signed up (100%), waiting 2" in out
    assert "voorbij" in out and "present 1, absent 1, unknown 1; feedback 2 (average 3.0)" in out
    assert "FAQ questions, 7 days: answered 1, 'did you mean' 1, not answered 1" in out
    assert f"delivered {sent}, unconfirmed 0, blocked 0, failed 0" in out
