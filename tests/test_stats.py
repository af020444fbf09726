"""/cijfers (/stats) and `mao-bot stats`: the same figures, computed in storage.statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import update

from bot import cli
from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.services import build_services
from core.charts import (
    DPI,
    FIGURE_INCHES,
    MIN_DAYS,
    MIN_SIGNUPS,
    PNG_SIGNATURE,
    SignupSeries,
    chart_data,
    signups_figure,
)
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


async def test_stats_in_chat(driver: BotDriver, clock: FakeClock) -> None:
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
    # Two seats taken on one day: a sentence, not an empty chart.
    assert not [c for c in calls if c.method == "sendPhoto"]
    assert texts(calls)[-1].startswith("📈 Nog geen grafiek: er zijn 2 aanmeldingen.")


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


# -- the chart (issue 19, §3) -------------------------------------------------------------------


def series_of(count: int, days: int, activities: int = 1) -> list[SignupSeries]:
    """`count` sign-ups spread over `days` days, over `activities` activities."""
    start = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    moments = [start + timedelta(days=n % days, minutes=n) for n in range(count)]
    return [
        SignupSeries(
            f"Activiteit {a} met een heel lange titel die niet past", moments[a::activities]
        )
        for a in range(activities)
    ]


def shown_ticks(count: int, days: int, activities: int = 1) -> tuple[list[float], list[str]]:
    """The y-ticks within the axis and the x-tick labels, read from the figure, not drawn."""
    data = chart_data(series_of(count, days, activities), ZONE)
    assert data.enough
    figure = signups_figure(data, "Aanmeldingen per activiteit", "aanmeldingen")
    [axes] = figure.axes
    bottom, top = axes.get_ylim()
    assert bottom == 0
    y = [float(v) for v in axes.get_yticks() if bottom <= v <= top]
    x = [label.get_text() for label in axes.get_xticklabels()]
    # Readable on a phone: the 960-pixel-wide photo is shown about 360 points wide.
    assert float(axes.title.get_fontsize()) >= 14
    assert x and float(axes.get_xticklabels()[0].get_fontsize()) >= 12
    return y, x


@pytest.mark.parametrize("count", [0, 1, MIN_SIGNUPS - 1])
def test_too_few_sign_ups_give_no_chart(count: int) -> None:
    assert not chart_data(series_of(count, max(count, 1)), ZONE).enough


def test_sign_ups_on_too_few_days_give_no_chart() -> None:
    assert not chart_data(series_of(50, MIN_DAYS - 1), ZONE).enough


def test_five_sign_ups_whole_numbers_and_each_date_once() -> None:
    y, x = shown_ticks(5, 5)
    assert y == [0, 1, 2, 3, 4, 5]
    assert x == ["01-02", "02-02", "03-02", "04-02", "05-02"]


def test_five_hundred_sign_ups_readable() -> None:
    y, x = shown_ticks(500, 40, activities=7)
    assert y[0] == 0 and all(v == int(v) for v in y) and 3 <= len(y) <= 8
    assert len(x) == len(set(x)) and 3 <= len(x) <= 7
    data = chart_data(series_of(500, 40, activities=7), ZONE)
    assert len(data.lines) == 5 and data.signups == 500  # the five busiest drawn
    assert all(len(label) <= 32 for label, _ in data.lines)


async def test_chart_in_chat_at_phone_size(driver: BotDriver, clock: FakeClock) -> None:
    """Five seats taken on five days: the chart, 960 x 720 pixels."""
    with driver.services.db.session() as session:
        upsert_activities(
            session,
            (activity("later", "Dialoog later", timedelta(days=30), clock),),
            ZONE,
            clock(),
        )
        later = get_activity(session, "later")
        assert later is not None
        for user in range(6001, 6006):
            touch_user(session, user, clock())
            details = SignupDetails(f"Deelnemer {user}", Role.OUDER, None, None, None)
            register(session, later.id, user, details, clock(), join_waitlist=True)
            clock.advance(timedelta(days=1))
    calls = await driver.say(ADMIN_ID, "/cijfers")
    photos = [c for c in calls if c.method == "sendPhoto"]
    assert len(photos) == 1 and photos[0].chat_id == ADMIN_ID
    (_, content), *_ = photos[0].files.values()
    assert content.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(content[16:20]), int.from_bytes(content[20:24])
    assert (width, height) == (FIGURE_INCHES[0] * DPI, FIGURE_INCHES[1] * DPI)
