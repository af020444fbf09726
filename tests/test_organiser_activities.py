"""Organisers publish and manage activities from the chat, through the Bot API stand-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ADMIN_ID, texts
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from core import callbacks
from storage.models import Activity, OutboxMessage, Registration
from storage.outbox import OutboxKind

PARENT, STRANGER = 2001, 2666
TITLE = "Fieldlab Samen Sterk"


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    # An organiser walking through every tool in one test taps faster than a person.
    flood = config.flood.model_copy(update={"updates": 1_000})
    return config.model_copy(update={"flood": flood})


def activities(driver: BotDriver) -> list[Activity]:
    with driver.services.db.session() as session:
        found = list(session.scalars(select(Activity).order_by(Activity.id)))
        session.expunge_all()
    return found


async def publish_fieldlab(driver: BotDriver) -> tuple[int, int]:
    """The whole creation flow; returns (messages typed, buttons tapped)."""
    typed = tapped = 0

    async def say(text: str) -> list[str]:
        nonlocal typed
        typed += 1
        return texts(await driver.say(ADMIN_ID, text))

    async def press(label: str) -> list[str]:
        nonlocal tapped
        tapped += 1
        return texts(await driver.press(ADMIN_ID, label))

    assert "titel" in (await say("/nieuweactiviteit"))[0]
    assert "Wat voor activiteit" in (await say(TITLE))[0]
    assert "Wanneer" in (await press("Fieldlab"))[0]
    # The range gives the end: no question about the duration.
    assert "Waar" in (await say("di 18 mei 14:00-16:00"))[0]
    assert "plekken" in (await say("Karakter, Arnhem"))[0]
    assert "vol" in (await say("12"))[0]
    assert "Voor wie" in (await press("Eerste op de wachtlijst"))[0]
    assert "Beschrijf" in (await press("Iedereen"))[0]
    assert "Engels" in (await say("We leren samen van casussen uit de klas."))[0]
    preview = await press("Overslaan")
    assert "Zo zien deelnemers het" in preview[0]
    block = preview[1]
    assert TITLE in block and "dinsdag 18 mei 2027, 14:00–16:00" in block
    assert "Karakter, Arnhem" in block and "casussen" in block and "12" in block
    published = await press("Publiceren")
    assert "Gepubliceerd" in published[0]
    assert "https://t.me/mao_test_bot?start=signup_fieldlab-samen-sterk-2027-05-18" in published[0]
    return typed, tapped


async def sign_up(driver: BotDriver, user: int, slug: str) -> None:
    await driver.say(user, f"/start signup_{slug}")
    await driver.press(user, "Ouder")
    await driver.say(user, "Anna de Vries")
    await driver.press(user, "Overslaan")
    await driver.press(user, "Geen vraag")
    await driver.press(user, "akkoord")
    calls = await driver.press(user, "Bevestigen")
    assert "Je bent aangemeld" in texts(calls)[0]


def reminders_due(driver: BotDriver) -> list[datetime]:
    with driver.services.db.session() as session:
        return sorted(
            session.scalars(
                select(OutboxMessage.due_at).where(
                    OutboxMessage.kind == OutboxKind.REMINDER,
                    OutboxMessage.status == "pending",
                )
            )
        )


async def open_card(driver: BotDriver, activity_id: int) -> None:
    await driver.say(ADMIN_ID, "/activiteiten")
    await driver.press_data(ADMIN_ID, callbacks.ORG_SHOW.data(activity=activity_id))


async def test_organiser_publishes_moves_duplicates_shares_and_cancels(
    driver: BotDriver,
) -> None:
    typed, tapped = await publish_fieldlab(driver)
    print(f"publishing a fieldlab: {typed} messages typed + {tapped} taps = {typed + tapped}")
    assert typed + tapped <= 12
    [activity] = activities(driver)
    assert activity.slug == "fieldlab-samen-sterk-2027-05-18"
    assert activity.kind == "fieldlab" and activity.status == "published"
    assert activity.created_by == ADMIN_ID and activity.capacity == 12
    assert activity.starts_at == datetime(2027, 5, 18, 12, 0, tzinfo=UTC)
    assert activity.ends_at == datetime(2027, 5, 18, 14, 0, tzinfo=UTC)

    # A parent sees it in the agenda and signs up.
    agenda = texts(await driver.say(PARENT, "/agenda"))
    assert any(TITLE in text for text in agenda)
    await sign_up(driver, PARENT, activity.slug)
    await driver.deliver_owed()
    before = reminders_due(driver)
    assert before  # planned for the original time

    # Moved: the parent is told once, reminders follow the new time.
    await open_card(driver, activity.id)
    calls = await driver.press(ADMIN_ID, "Verplaatsen")
    assert "Naar welke datum" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "25 mei 14:00")
    assert "Verplaatst" in texts(calls)[0] and "1 persoon" in texts(calls)[0]
    await driver.deliver_owed()
    assert len(await driver.messages_to(PARENT, "verplaatst")) == 1
    await driver.deliver_owed()
    assert len(await driver.messages_to(PARENT, "verplaatst", limit_seconds=0.2)) == 1
    after = reminders_due(driver)
    assert after == [d + timedelta(days=7) for d in before]
    [moved] = activities(driver)
    assert moved.ends_at - moved.starts_at == timedelta(hours=2)  # the duration stays
    assert set(json.loads(moved.changed_in_chat or "[]")) >= {"starts_at", "ends_at"}

    # Change one field: remembered as changed in chat.
    await open_card(driver, activity.id)
    await driver.press(ADMIN_ID, "Wijzig iets")
    await driver.press(ADMIN_ID, "Aantal plekken")
    calls = await driver.say(ADMIN_ID, "20")
    assert "Gewijzigd" in texts(calls)[0]
    [changed] = activities(driver)
    assert changed.capacity == 20 and "capacity" in json.loads(changed.changed_in_chat or "[]")

    # Close and open registration.
    await open_card(driver, activity.id)
    calls = await driver.press(ADMIN_ID, "Aanmelden sluiten")
    assert "gesloten" in texts(calls)[0]
    assert activities(driver)[0].registration_closes_at is not None
    calls = await driver.press(ADMIN_ID, "Aanmelden openen")
    assert "weer open" in texts(calls)[0]
    assert activities(driver)[0].registration_closes_at is None

    # Duplicate on a new date: a second activity without registrations.
    await open_card(driver, activity.id)
    await driver.press(ADMIN_ID, "Nieuwe datum")
    calls = await driver.say(ADMIN_ID, "di 8 juni 14:00-16:00")
    assert "Nieuwe activiteit gepubliceerd" in texts(calls)[0]
    first, copy = activities(driver)
    assert copy.slug == "fieldlab-samen-sterk-2027-06-08" and copy.capacity == 20
    with driver.services.db.session() as session:
        assert (
            session.scalars(select(Registration).where(Registration.activity_id == copy.id)).all()
            == []
        )

    # The share link and the QR codes (sign-up and check-in).
    await open_card(driver, activity.id)
    calls = await driver.press(ADMIN_ID, "Link en QR")
    assert f"https://t.me/mao_test_bot?start=signup_{first.slug}" in texts(calls)[0]
    photos = [c for c in calls if c.method == "sendPhoto"]
    assert len(photos) == 2
    code = activities(driver)[0].checkin_code
    caption = str(photos[1].params.get("caption"))
    # A day's code, derived from the activity's secret (which itself is not shown).
    assert code and f"start=checkin_{activity.id}_" in caption and code not in caption

    # Cancelled after a confirmation: the parent is told once.
    await open_card(driver, activity.id)
    calls = await driver.press(ADMIN_ID, "Afgelasten")
    assert "Weet je zeker" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Ja, afgelasten")
    assert "Afgelast" in texts(calls)[0]
    await driver.deliver_owed()
    assert len(await driver.messages_to(PARENT, "niet door")) == 1
    # A second press of the old confirmation tells nobody again.
    await driver.press_data(ADMIN_ID, callbacks.ORG_CANCEL_YES.data(activity=activity.id))
    await driver.deliver_owed()
    assert len(await driver.messages_to(PARENT, "niet door", limit_seconds=0.2)) == 1
    assert activities(driver)[0].status == "cancelled"


async def test_unclear_and_weekend_dates_are_asked_again(driver: BotDriver) -> None:
    await driver.say(ADMIN_ID, "/newevent")
    await driver.say(ADMIN_ID, "Werksessie")
    await driver.press(ADMIN_ID, "Werksessie")
    calls = await driver.say(ADMIN_ID, "ergens in mei")
    assert "begrijp ik niet" in texts(calls)[0] and "18 mei 14:00" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "31 februari 10:00")
    assert "bestaat niet" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "za 22 mei 10:00")
    assert "weekend" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Ja, klopt")
    assert "Hoe lang" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "90 min")
    assert "Waar" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "online http://example.org/meet")
    assert "https://" in texts(calls)[0]
    await driver.say(ADMIN_ID, "https://example.org/meet")
    # Without a maximum it is never full: no question about what happens then.
    assert "Voor wie" in texts(await driver.press(ADMIN_ID, "Geen maximum"))[0]
    await driver.press(ADMIN_ID, "Professionals")
    await driver.say(ADMIN_ID, "Samen werken.")
    calls = await driver.say(ADMIN_ID, "Working together.")
    preview = texts(calls)[1]
    assert "zaterdag 22 mei 2027, 10:00–11:30" in preview and "example.org/meet" in preview
    # Change a field from the preview, then back to the preview.
    await driver.press(ADMIN_ID, "Wijzig iets")
    await driver.press(ADMIN_ID, "Titel")
    calls = await driver.say(ADMIN_ID, "Werksessie online")
    assert "Zo zien deelnemers het" in texts(calls)[0] and "Werksessie online" in texts(calls)[1]
    # A maximum given later asks it after all.
    await driver.press(ADMIN_ID, "Wijzig iets")
    await driver.press(ADMIN_ID, "Aantal plekken")
    assert "Als het vol is" in texts(await driver.say(ADMIN_ID, "20"))[0]
    calls = await driver.press(ADMIN_ID, "Plek aanbieden")
    assert "Zo zien deelnemers het" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Weggooien")
    assert "weggegooid" in texts(calls)[0]
    assert activities(driver) == []


async def test_everything_is_refused_for_non_organisers(driver: BotDriver) -> None:
    await publish_fieldlab(driver)
    [activity] = activities(driver)
    for command in ("/nieuweactiviteit", "/newevent", "/activiteiten", "/events_admin", "/manage"):
        calls = await driver.say(STRANGER, command)
        assert "alleen de organisatoren" in texts(calls)[0], command
    some = {"activity": activity.id}
    forged = [
        callbacks.ORG_SHOW.data(**some),
        callbacks.ORG_EDIT_MENU.data(**some),
        callbacks.ORG_EDIT.data(field="title", **some),
        callbacks.ORG_MOVE.data(**some),
        callbacks.ORG_REGISTRATION.data(state="closed", **some),
        callbacks.ORG_CANCEL.data(**some),
        callbacks.ORG_CANCEL_YES.data(**some),
        callbacks.ORG_REOPEN.data(**some),
        callbacks.ORG_DUPLICATE.data(**some),
        callbacks.ORG_SHARE.data(**some),
        callbacks.ORG_KIND.data(kind="fieldlab"),
        callbacks.ORG_WHEN_OK.data(answer="yes"),
        callbacks.ORG_DURATION.data(minutes=90),
        callbacks.ORG_NO_LIMIT.data(),
        callbacks.ORG_WAITLIST.data(mode="auto"),
        callbacks.ORG_AUDIENCE.data(audience="ouders"),
        callbacks.ORG_SKIP_EN.data(),
        callbacks.ORG_PUBLISH.data(),
        callbacks.ORG_DISCARD.data(),
        callbacks.ORG_CHANGE_MENU.data(),
        callbacks.ORG_CHANGE.data(field="title"),
        callbacks.ORG_ABORT.data(),
    ]
    for data in forged:
        calls = await driver.press_data(STRANGER, data)
        assert any("alleen de organisatoren" in t for t in texts(calls)), data
        assert not [c for c in calls if c.method == "sendPhoto"], data
    [unchanged] = activities(driver)
    assert unchanged.status == "published" and unchanged.registration_closes_at is None
    assert unchanged.checkin_code is None and len(activities(driver)) == 1
    # The organiser commands are in the organiser's menu only.
    latest = driver.latest_message(STRANGER)
    assert latest is not None and not buttons_of(latest)
