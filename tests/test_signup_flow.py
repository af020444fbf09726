"""The sign-up flow end to end, through the Bot API stand-in, as parents and professionals."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import icalendar
import openpyxl
import pytest
from cli_process import run_cli
from conftest import ADMIN_ID, ROOT, FakeClock, texts
from sqlalchemy import func, select

from bot.cli import main
from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import ApiCall
from bot.services import build_services
from storage.activities import ActivitySpec, read_activity_file, upsert_activities
from storage.models import Registration
from storage.vocabulary import Role

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
PARENT, PRO, THIRD = 2001, 2002, 2003


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES, "page_size": 2})
    return config.model_copy(update={"activities": activities})


def documents(calls: list[ApiCall]) -> list[ApiCall]:
    return [c for c in calls if c.method == "sendDocument"]


async def sign_up(
    driver: BotDriver,
    user: int,
    slug: str = "kleine-dialoog",
    name: str = "Anna de Vries",
    *,
    sector: str | None = None,
    waitlist: bool = False,
) -> list[ApiCall]:
    """The whole flow by deep link, skipping e-mail and question; returns the confirmation."""
    await driver.say(user, f"/start signup_{slug}")
    if waitlist:
        await driver.press(user, "Ja, op de wachtlijst")
    if sector is None:
        await driver.press(user, "Ouder")
    else:
        await driver.press(user, "Professional")
        await driver.press(user, sector)
    await driver.say(user, name)
    await driver.press(user, "Overslaan")
    await driver.press(user, "Geen vraag")
    await driver.press(user, "akkoord")
    return await driver.press(user, "Bevestigen")


def registrations(driver: BotDriver) -> list[tuple[int, str, str]]:
    with driver.services.db.session() as session:
        rows = session.execute(
            select(Registration.user_id, Registration.name, Registration.status)
        ).all()
    return sorted((r[0], r[1], r[2]) for r in rows)


async def test_parent_signs_up_and_gets_confirmation_and_calendar(driver: BotDriver) -> None:
    calls = await driver.say(PARENT, "/aanmelden")
    assert "Voor welke activiteit" in texts(calls)[0]
    await driver.press(PARENT, "Kleine dialoog")
    calls = await driver.press(PARENT, "Ouder")
    assert "Wat is je naam" in texts(calls)[0]
    calls = await driver.say(PARENT, "Anna de Vries")
    assert "e-mailadres" in texts(calls)[0]
    calls = await driver.say(PARENT, "geen-email")
    assert "geen geldig e-mailadres" in texts(calls)[0]
    await driver.say(PARENT, "anna@example.org")
    calls = await driver.say(PARENT, "Is er parkeergelegenheid?")
    assert "Toestemming" in texts(calls)[0] and "/privacy" in texts(calls)[0]
    calls = await driver.press(PARENT, "akkoord")
    summary = texts(calls)[0]
    assert "Anna de Vries, Ouder" in summary and "anna@example.org" in summary
    # Dutch time as the clocks show it: no zone for Dutch readers.
    assert "dinsdag 18 mei 2027, 14:00–16:00" in summary and "CEST" not in summary
    assert "Kleine dialoog &lt;&amp;&gt; ouders" in summary
    calls = await driver.press(PARENT, "Bevestigen")
    assert "Je bent aangemeld" in texts(calls)[0]
    [document] = documents(calls)
    name, _ = next(iter(document.files.values()))
    assert name == "mao-kleine-dialoog-2027-05-18.ics"  # the date it is on
    assert registrations(driver) == [(PARENT, "Anna de Vries", "registered")]
    # Nothing of the draft is left behind.
    await driver.restart()
    calls = await driver.say(PARENT, "Anna de Vries")
    assert not any("e-mailadres" in t for t in texts(calls))


async def test_calendar_file_content(driver: BotDriver) -> None:
    calls = await sign_up(driver, PARENT)
    _, data = next(iter(documents(calls)[0].files.values()))
    calendar = icalendar.Calendar.from_ical(data)
    [event] = calendar.walk("VEVENT")
    start = event.decoded("dtstart")
    assert str(start.tzinfo) == "Europe/Amsterdam"
    assert (start.hour, start.minute) == (14, 0)
    assert event.decoded("dtend").hour == 16
    assert str(event["summary"]) == "Kleine dialoog <&> ouders"
    assert str(event["location"]) == "Karakter, Arnhem"
    assert "VTIMEZONE" in data.decode()
    # The UID stays the same when the file is sent again from /mijnaanmeldingen.
    await driver.say(PARENT, "/mijnaanmeldingen")
    again = await driver.press(PARENT, "Agenda-bestand")
    _, data2 = next(iter(documents(again)[0].files.values()))
    [event2] = icalendar.Calendar.from_ical(data2).walk("VEVENT")
    assert str(event2["uid"]) == str(event["uid"])


async def test_returning_user_signs_up_in_four_taps(driver: BotDriver) -> None:
    await sign_up(driver, PARENT, name="Bram")
    calls = await driver.say(PARENT, "/start signup_masterclass-ruim")
    assert "Zal ik je aanmelden als <b>Bram, Ouder</b>" in texts(calls)[-1]
    await driver.press(PARENT, "Ja, klopt")
    await driver.press(PARENT, "Geen vraag")  # the question is for this activity
    calls = await driver.press(PARENT, "Bevestigen")
    assert "Je bent aangemeld" in texts(calls)[0]
    assert [r[2] for r in registrations(driver)] == ["registered", "registered"]


async def test_professional_gives_sector(driver: BotDriver) -> None:
    await driver.say(PRO, "/start signup_masterclass-ruim")
    await driver.press(PRO, "Professional")
    calls = await driver.press(PRO, "Jeugdhulp")
    assert "naam" in texts(calls)[0]
    await driver.say(PRO, "Jeroen")
    await driver.press(PRO, "Overslaan")
    await driver.press(PRO, "Geen vraag")
    calls = await driver.press(PRO, "akkoord")
    assert "Jeroen, Professional (Jeugdhulp)" in texts(calls)[0]


async def test_third_person_waits_and_is_promoted_when_someone_cancels(driver: BotDriver) -> None:
    await sign_up(driver, PARENT, name="Een")
    await sign_up(driver, PRO, name="Twee")
    calls = await driver.say(THIRD, "/start signup_kleine-dialoog")
    assert "vol" in texts(calls)[0] and "wachtlijst" in texts(calls)[0]
    calls = await sign_up(driver, THIRD, name="Drie", waitlist=True)
    assert "wachtlijst" in texts(calls)[0] and "plek 1" in texts(calls)[0]

    calls = await driver.say(THIRD, "/mijnaanmeldingen")
    assert "Wachtlijst, plek 1" in texts(calls)[1]
    assert "👪 Voor ouders" in texts(calls)[1]

    await driver.say(PARENT, "/mijnaanmeldingen")
    await driver.press(PARENT, "Afmelden")
    calls = await driver.press(PARENT, "Ja, afmelden")
    assert "Je bent afgemeld" in texts(calls)[0]
    told = await driver.messages_to(THIRD, "Goed nieuws")
    assert len(told) == 1
    assert "Kleine dialoog" in told[0].params["text"] and "18 mei 2027" in told[0].params["text"]
    assert registrations(driver) == [
        (PARENT, "Een", "cancelled"),
        (PRO, "Twee", "registered"),
        (THIRD, "Drie", "registered"),
    ]


async def test_offer_mode_claim_deadline_and_expiry(driver: BotDriver, clock: FakeClock) -> None:
    pros = [3001, 3002, 3003]
    for n, user in enumerate(pros):
        await sign_up(driver, user, "fieldlab-aanbod", f"Pro {n}", sector="Zorg", waitlist=n > 0)
    await driver.say(pros[0], "/mijnaanmeldingen")
    await driver.press(pros[0], "Afmelden")
    await driver.press(pros[0], "Ja, afmelden")
    [offer] = await driver.messages_to(pros[1], "Claim hem")
    assert "Claim hem vóór <b>dinsdag 2 maart 2027, 10:00</b>" in offer.params["text"]
    assert [b[0] for b in buttons_of({"reply_markup": offer.params["reply_markup"]})] == [
        "🎟 Ja, ik neem de plek",
        "Nee, geef door",
    ]
    clock.advance(timedelta(hours=25))
    await driver.run_job("offer-expiry")
    assert len(await driver.messages_to(pros[1], "voorbij")) == 1
    assert len(await driver.messages_to(pros[2], "Claim hem")) == 1
    # The expired offer's button no longer works; the new one does.
    calls = await driver.press(pros[1], "Ja, ik neem de plek")
    assert "geldt niet meer" in texts(calls)[0]
    calls = await driver.press(pros[2], "Ja, ik neem de plek")
    assert "Je bent aangemeld" in texts(calls)[0]
    assert documents(calls)


async def test_restart_in_the_middle_resumes_where_the_user_was(driver: BotDriver) -> None:
    await driver.say(PARENT, "/aanmelden")
    await driver.press(PARENT, "Kleine dialoog")
    await driver.press(PARENT, "Ouder")
    await driver.restart()
    calls = await driver.say(PARENT, "Anna")
    assert "e-mailadres" in texts(calls)[0]
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "akkoord")
    calls = await driver.press(PARENT, "Bevestigen")
    assert "Je bent aangemeld" in texts(calls)[0]
    assert registrations(driver) == [(PARENT, "Anna", "registered")]


async def test_abort_with_annuleer_and_odd_input(driver: BotDriver) -> None:
    await driver.say(PARENT, "/aanmelden")
    calls = await driver.say(PARENT, "ik typ gewoon iets")
    assert "knoppen" in texts(calls)[0]
    await driver.press(PARENT, "Kleine dialoog")
    await driver.press(PARENT, "Ouder")
    calls = await driver.say(PARENT, "x" * 101)
    assert "maximaal 100" in texts(calls)[0]
    calls = await driver.say(PARENT, "\u200b")
    assert "lukt niet als naam" in texts(calls)[0]
    # A button where text is expected.
    calls = await driver.press_data(PARENT, "signup:role:ouder")
    assert any(
        "Typ je antwoord" in c.params.get("text", "")
        for c in calls
        if c.method == "answerCallbackQuery"
    )
    calls = await driver.say(PARENT, "/annuleer")
    assert "gestopt" in texts(calls)[0]
    calls = await driver.say(PARENT, "/annuleer")
    assert "niet bezig" in texts(calls)[0]
    assert registrations(driver) == []


async def test_double_tap_and_stale_buttons(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_kleine-dialoog")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, "Anna")
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "akkoord")
    summary = driver.latest_message_with_buttons(PARENT)
    assert summary is not None
    await driver.press_data(PARENT, "signup:confirm", summary)
    calls = await driver.press_data(PARENT, "signup:confirm", summary)
    assert any("werkt niet meer" in c.params.get("text", "") for c in calls)
    assert len(registrations(driver)) == 1
    calls = await driver.press_data(PARENT, "signup:pick:999999")
    assert "niet (meer) vinden" in texts(calls)[0]
    calls = await driver.say(PARENT, "/start signup_kleine-dialoog")
    assert "al aangemeld" in texts(calls)[0]
    calls = await driver.press_data(PARENT, "mine:cancelyes:99999")
    assert "niet (meer)" in texts(calls)[0]


async def test_last_seat_taken_while_typing_offers_waiting_list(driver: BotDriver) -> None:
    await sign_up(driver, PARENT, name="Een")
    await driver.say(PRO, "/start signup_kleine-dialoog")
    await driver.press(PRO, "Ouder")
    await driver.say(PRO, "Twee")
    await driver.press(PRO, "Overslaan")
    await driver.press(PRO, "Geen vraag")
    await driver.press(PRO, "akkoord")
    await sign_up(driver, THIRD, name="Drie")  # takes the last seat meanwhile
    calls = await driver.press(PRO, "Bevestigen")
    assert "laatste plek" in texts(calls)[0]
    calls = await driver.press(PRO, "Bevestigen")
    assert "wachtlijst" in texts(calls)[0]
    assert registrations(driver)[1] == (PRO, "Twee", "waiting")


async def test_organiser_cancellation_tells_everyone(driver: BotDriver) -> None:
    await sign_up(driver, PARENT, name="Een")
    await sign_up(driver, PRO, name="Twee")
    original = read_activity_file(TEST_ACTIVITIES).activities[0]
    spec = ActivitySpec.model_validate({**original.model_dump(), "status": "cancelled"})
    with driver.services.db.session() as session:
        upsert_activities(session, (spec,), driver.services.config.zone, driver.services.now())
    await driver.deliver_owed()
    for person in (PARENT, PRO):
        assert len(await driver.messages_to(person, "niet door")) == 1
    calls = await driver.say(THIRD, "/start signup_kleine-dialoog")
    assert "gaat helaas niet door" in texts(calls)[0]


async def test_timeout_is_friendly(config: AppConfig, clock: FakeClock) -> None:
    quick = config.model_copy(
        update={"signup": config.signup.model_copy(update={"timeout": timedelta(seconds=1)})}
    )
    async with BotDriver(lambda: build_services(quick, clock)) as driver:
        await driver.say(PARENT, "/aanmelden")
        assert await driver.messages_to(PARENT, "even stil")  # a second later


async def test_agenda_lists_pages_and_filters(driver: BotDriver) -> None:
    calls = await driver.say(PARENT, "/agenda")
    text = texts(calls)[0]
    assert "pagina 1/2" in text
    assert "woensdag 14 april 2027, 13:30–16:30\n" in text
    assert "Nog 1 plekken vrij" in text or "Nog 1 plek" in text
    labels = [label for label, _ in buttons_of(driver.latest_message_with_buttons(PARENT) or {})]
    assert "Aanmelden: Fieldlab met aanbod" in labels and "Volgende ▶" in labels
    calls = await driver.press(PARENT, "Volgende")
    assert "Masterclass Netwerkregie" in calls[-1].params["text"]
    await driver.press(PARENT, "Filter")
    calls = await driver.press(PARENT, "Fieldlab")
    assert "Agenda: Fieldlab" in calls[-1].params["text"]
    assert "Masterclass" not in calls[-1].params["text"]
    # The agenda's sign-up button starts the flow for that activity.
    calls = await driver.press(PARENT, "Aanmelden: Fieldlab")
    assert any(
        "Ouder of als professional" in t or "ouder of als professional" in t for t in texts(calls)
    )


async def test_english_agenda(driver: BotDriver) -> None:
    driver.languages[PARENT] = "en"
    text = texts(await driver.say(PARENT, "/events"))[0]
    assert "Wednesday 14 April 2027, 13:30–16:30 (CEST)" in text


def test_export_cli(
    tmp_path: Path, config: AppConfig, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    services = build_services(config, clock)
    services.db.upgrade()
    from storage.registrations import SignupDetails, register

    with services.db.session() as session:
        upsert_activities(
            session, read_activity_file(TEST_ACTIVITIES).activities, config.zone, clock()
        )
    with services.db.session() as session:
        from storage.activities import get_activity

        activity = get_activity(session, "kleine-dialoog")
        assert activity is not None
        details = SignupDetails(
            'Anna "de" Vries, jr.', Role.OUDER, None, "a@example.org", "=cmd()"
        )
        register(session, activity.id, 1, details, clock(), join_waitlist=True)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"storage:\n  url: {config.storage.url}\nactivities:\n  file: {TEST_ACTIVITIES}\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["--config", str(config_file), *args], cwd=ROOT)

    result = run("export", "registrations", "kleine-dialoog", "--format", "csv")
    assert result.returncode == 0, result.stderr
    # A BOM and ";" by default, so that (Dutch) Excel opens it right.
    assert result.stdout.startswith("\ufeffname;role;")
    rows = list(csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff")), delimiter=";"))
    assert rows[0]["name"] == 'Anna "de" Vries, jr.'
    assert rows[0]["status"] == "registered"
    assert rows[0]["question"] == "'=cmd()"  # spreadsheet formula injection defused
    # The other formats in this process (a process start costs a second of CPU).
    command = ["--config", str(config_file), "export", "registrations"]
    assert main([*command, "kleine-dialoog", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["email"] == "a@example.org"
    assert main([*command, "bestaat-niet"]) == 1
    assert "bestaat-niet" in capsys.readouterr().err
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 1


async def test_organiser_sees_attendees_and_gets_a_workbook(driver: BotDriver) -> None:
    await sign_up(driver, PARENT, name="=Anna")
    calls = await driver.say(ADMIN_ID, "/deelnemers")
    assert "Van welke activiteit" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Kleine dialoog")
    assert "Aangemeld: 1 · Wachtlijst: 0" in texts(calls)[0]
    assert "• =Anna" in texts(calls)[0]
    [document] = documents(calls)
    name, data = next(iter(document.files.values()))
    assert name == "deelnemers-kleine-dialoog.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet["A2"].value == "'=Anna" and sheet["F2"].value == "Aangemeld"
    # Callback data is never trusted: a forged organiser button is refused.
    forged = driver.standin.messages and driver.latest_message_with_buttons(ADMIN_ID)
    assert forged
    calls = await driver.press_data(PARENT, buttons_of(forged)[0][1])
    assert "alleen de organisatoren" in texts(calls)[0]
    assert not documents(calls)


async def test_signup_race_and_promotion_on_postgres(
    postgres_url: str, config: AppConfig, clock: FakeClock
) -> None:
    on_postgres = config.model_copy(
        update={"storage": config.storage.model_copy(update={"url": postgres_url})}
    )
    async with BotDriver(lambda: build_services(on_postgres, clock)) as driver:
        await sign_up(driver, PARENT, name="Een")
        await driver.restart()  # conversation state and data live in PostgreSQL
        await sign_up(driver, PRO, name="Twee")
        calls = await driver.say(THIRD, "/start signup_kleine-dialoog")
        assert "vol" in texts(calls)[0]
        await driver.say(PARENT, "/mijnaanmeldingen")
        await driver.press(PARENT, "Afmelden")
        await driver.press(PARENT, "Ja, afmelden")
        assert registrations(driver) == [(PARENT, "Een", "cancelled"), (PRO, "Twee", "registered")]


async def test_leaving_the_waiting_list(driver: BotDriver) -> None:
    await sign_up(driver, PARENT, name="Een")
    await sign_up(driver, PRO, name="Twee")
    await sign_up(driver, THIRD, name="Drie", waitlist=True)
    await driver.say(THIRD, "/mine")
    calls = await driver.press(THIRD, "Van de wachtlijst af")
    assert "niet meer op de wachtlijst" in texts(calls)[0]
    assert registrations(driver)[2] == (THIRD, "Drie", "cancelled")
    calls = await driver.say(THIRD, "/mine")
    assert "geen aanmeldingen" in texts(calls)[0]
