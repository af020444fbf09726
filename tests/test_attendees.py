"""/deelnemers: counts, questions, the workbook, the CSV, and writing to an activity's people."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from conftest import ADMIN_ID, FakeClock, texts

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import ApiCall
from core import callbacks
from storage.activities import cancel_activity, get_activity, upsert_activities
from storage.activities import read_activity_file as read_file
from storage.broadcasts import audience_user_ids
from storage.exports import XLSX_HEADERS, attendees_csv, attendees_xlsx
from storage.models import Activity, Registration
from storage.registrations import (
    ExportRow,
    SignupDetails,
    cancel_registration,
    export_registrations,
    register,
)
from storage.vocabulary import Recipients, Role, Sector

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
PARENT, PRO, WAITER, LEAVER, STRANGER = 3001, 3002, 3003, 3004, 3005


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


def documents(calls: list[ApiCall]) -> list[ApiCall]:
    return [c for c in calls if c.method == "sendDocument"]


async def seat(
    driver: BotDriver,
    user: int,
    name: str,
    role: Role = Role.OUDER,
    sector: Sector | None = None,
    question: str | None = None,
    slug: str = "kleine-dialoog",
) -> None:
    await driver.say(user, "/start")  # the user exists, as after a real sign-up
    services = driver.services
    with services.db.session() as session:
        activity = get_activity(session, slug)
        assert activity is not None
        details = SignupDetails(name, role, sector, f"{user}@example.org", question)
        register(session, activity.id, user, details, services.now(), join_waitlist=True)


async def full_activity(driver: BotDriver) -> None:
    await seat(driver, PARENT, "<b>Anna</b>", question="ik kom met de rolstoel")
    await seat(driver, PRO, "Bram", Role.PROFESSIONAL, Sector.ZORG)
    # Capacity 2: Cor and Dirk wait; Cor leaves the waiting list.
    await seat(driver, LEAVER, "Cor")
    await seat(driver, WAITER, "Dirk")
    services = driver.services
    with services.db.session() as session:
        leaver = session.query(Registration).filter_by(user_id=LEAVER).one()
        cancel_registration(session, leaver.id, LEAVER, services.now())


async def test_attendee_view_counts_questions_and_workbook(driver: BotDriver) -> None:
    await full_activity(driver)
    calls = await driver.say(ADMIN_ID, "/deelnemers")
    assert "Van welke activiteit" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Kleine dialoog")
    [text] = texts(calls)
    assert "Aangemeld: 2 · Wachtlijst: 1 · Afgemeld: 1" in text
    assert "Ouder: 1" in text and "Professional: 1" in text and "Zorg: 1" in text
    assert "<i>ik kom met de rolstoel</i>" in text
    assert "&lt;b&gt;Anna&lt;/b&gt;" in text and "<b>Anna</b>" not in text
    [document] = documents(calls)
    name, data = next(iter(document.files.values()))
    assert name == "deelnemers-kleine-dialoog.xlsx"
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook.active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == list(XLSX_HEADERS)
    assert sheet["A1"].font.bold and sheet.freeze_panes == "A2"
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "<b>Anna</b>" in names
    anna = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == "<b>Anna</b>")
    assert anna[4] == "ik kom met de rolstoel" and anna[5] == "Aangemeld"
    assert isinstance(anna[7], datetime) and anna[7].tzinfo is None
    # 2027-03-01 09:00 UTC is 10:00 in Amsterdam: the local time, as Excel shows it.
    assert anna[7] == datetime(2027, 3, 1, 10, 0)


def test_workbook_defuses_formulas_and_csv_has_bom_and_semicolons(clock: FakeClock) -> None:
    row = ExportRow(
        "=HYPERLINK(1)", "ouder", None, None, "+cmd", "registered", clock(), None, True, 1, 1
    )
    sheet = openpyxl.load_workbook(io.BytesIO(attendees_xlsx([row], UTC))).active
    assert sheet is not None
    assert sheet["A2"].value == "'=HYPERLINK(1)" and sheet["A2"].data_type == "s"
    assert sheet["E2"].value == "'+cmd" and sheet["I2"].value == "ja"
    text = attendees_csv([row], UTC)
    assert text.startswith("\ufeffname;role;sector;email;question;status")
    assert "'=HYPERLINK(1);ouder" in text
    assert attendees_csv([row], UTC, ",").startswith("\ufeffname,role,")


async def test_a_long_list_is_cut_to_fit_one_message(driver: BotDriver) -> None:
    for number in range(30):  # 30 questions of 160 characters: more than 4096
        await seat(
            driver,
            4000 + number,
            f"Deelnemer {number}",
            question="Een lange vraag over de toegankelijkheid " * 4,
            slug="masterclass-ruim",
        )
    await driver.say(ADMIN_ID, "/deelnemers")
    calls = await driver.press(ADMIN_ID, "Masterclass")
    [text] = texts(calls)
    assert len(text) <= 4096
    assert "meer: zie het bestand" in text and "Aangemeld: 30" in text
    [document] = documents(calls)
    _, data = next(iter(document.files.values()))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None and sheet.max_row == 31


async def test_attendees_of_a_cancelled_activity_can_be_written_to(driver: BotDriver) -> None:
    await seat(driver, PARENT, "Anna")
    services = driver.services
    with services.db.session() as session:
        activity = session.query(Activity).filter_by(slug="kleine-dialoog").one()
        cancel_activity(session, activity, services.now())
        activity_id = activity.id
    with services.db.session() as session:
        assert audience_user_ids(session, Recipients.ATTENDEES, activity_id) == [PARENT]
    await driver.say(ADMIN_ID, "/deelnemers")
    calls = await driver.press(ADMIN_ID, "❌ Kleine dialoog")
    assert "afgelast" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Bericht aan de deelnemers")
    # The /omroep conversation, at its text step, for exactly this activity's people.
    assert any("<b>1</b> ontvanger." in t and "Kleine dialoog" in t for t in texts(calls))
    await driver.say(ADMIN_ID, "De nieuwe datum volgt snel.")
    await driver.press(ADMIN_ID, "Overslaan")  # no English version
    await driver.press(ADMIN_ID, "Versturen")
    await driver.deliver_owed()
    assert await driver.messages_to(PARENT, "De nieuwe datum volgt snel.")


async def test_only_organisers_see_attendees_or_write_to_them(driver: BotDriver) -> None:
    await seat(driver, PARENT, "Anna")
    with driver.services.db.session() as session:
        activity_id = session.query(Activity).filter_by(slug="kleine-dialoog").one().id
    refused = "alleen de organisatoren"
    calls = await driver.say(STRANGER, "/deelnemers")
    assert refused in texts(calls)[0]
    calls = await driver.say(STRANGER, "/attendees")
    assert refused in texts(calls)[0]
    for data in (
        callbacks.ATTENDEES_OF.data(activity=activity_id),
        callbacks.ATTENDEES_WRITE.data(audience=Recipients.ATTENDEES, activity=activity_id),
        callbacks.ATTENDEES_WRITE.data(audience=Recipients.WAITING, activity=activity_id),
    ):
        calls = await driver.press_data(STRANGER, data)
        assert refused in " ".join(texts(calls)), data
        assert not documents(calls)
    # An organiser's real button, pressed by someone else, is refused too.
    await driver.say(ADMIN_ID, "/deelnemers")
    message = driver.latest_message_with_buttons(ADMIN_ID)
    assert message is not None
    calls = await driver.press_data(STRANGER, buttons_of(message)[0][1])
    assert refused in texts(calls)[0] and not documents(calls)


def test_export_rows_carry_attendance(config: AppConfig, clock: FakeClock) -> None:
    from bot.services import build_services

    services = build_services(config, clock)
    services.db.upgrade()
    with services.db.session() as session:
        upsert_activities(session, read_file(TEST_ACTIVITIES).activities, config.zone, clock())
        activity = get_activity(session, "kleine-dialoog")
        assert activity is not None
        details = SignupDetails("Anna", Role.OUDER, None, None, None)
        register(session, activity.id, 1, details, clock(), join_waitlist=False)
        session.query(Registration).update({"attended": True})
        [row] = export_registrations(session, "kleine-dialoog") or []
    assert row.attended is True and row.user_id == 1
