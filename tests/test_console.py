"""`mao-bot console` shows everything the bot sends: its answers, what it sends on its own
(promotions, offers, reminders), saved documents; with several users and a movable clock.

The tests type into the console's own stdin and read its stdout, one line at a time, and
press buttons by their label through `#M.N` (message M, button N), as a person would."""

from __future__ import annotations

import asyncio
import io
import queue
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TextIO, cast

import icalendar
import openpyxl
import pytest
from cli_process import run_cli
from conftest import ADMIN_ID, ROOT, FakeClock

from bot.config import AppConfig
from bot.offline.console import render, run_console
from bot.services import build_services
from core.i18n import Catalogue

TEST_ACTIVITIES = ROOT / "tests" / "data" / "activities-test.yaml"
MESSAGE = re.compile(r"^\[(\d+)\] (bot>|bot ⇢)(?: (aan gebruiker \d+:))? ?(.*)$")
BUTTON = re.compile(r"^  \[(\d+)\] (.*)$")
PROMPT = re.compile(r"^(?:\d+ )?> (?=\[\d+\] bot)")  # an interactive prompt before a message
SAVED = re.compile(r"↳ bewaard: (.+)$", re.MULTILINE)


def own_messages(text: str) -> list[tuple[str, str, list[str]]]:
    """(number, first line, button labels) of each message printed in the current user's
    chat (not those pushed into another user's chat)."""
    found: list[tuple[str, str, list[str]]] = []
    own = False
    for line in text.splitlines():
        line = PROMPT.sub("", line)
        if header := MESSAGE.match(line):
            own = not header.group(3)
            if own:
                found.append((header.group(1), header.group(4), []))
        elif (button := BUTTON.match(line)) and own:
            found[-1][2].append(button.group(2))
    return found


class Keyboard:
    """The console's stdin, typed by the test: a line at a time, and the console says when
    it is ready for the next (it asks for a line once it has shown all the previous one
    caused)."""

    def __init__(self, tty: bool = False) -> None:
        self.tty = tty
        self.lines: queue.Queue[str] = queue.Queue()
        self.loop = asyncio.get_running_loop()
        self.ready = asyncio.Event()

    def isatty(self) -> bool:
        return self.tty

    def readline(self) -> str:
        self.loop.call_soon_threadsafe(self.ready.set)
        return self.lines.get(timeout=120)


class Session:
    """One console session: `type` a line and get what it printed; `press` a button by its
    label in the newest message of the current user's chat that has it."""

    def __init__(self, out: io.StringIO, keyboard: Keyboard) -> None:
        self.out = out
        self.keyboard = keyboard
        self.task: asyncio.Task[int] | None = None
        self.chat_start = 0  # where the current user's part of the transcript begins

    @property
    def transcript(self) -> str:
        return self.out.getvalue()

    async def type(self, line: str) -> str:
        start = len(self.transcript)
        self.keyboard.ready.clear()
        self.keyboard.lines.put(line + "\n")
        await asyncio.wait_for(self.keyboard.ready.wait(), 60)
        if re.fullmatch(r"/(als|user) \d+", line):
            self.chat_start = start
        return self.transcript[start:]

    def button(self, label: str, within: str | None = None) -> str | None:
        """`#M.N` for the button with this label in the newest message that has it (in
        `within`, or in the current user's part of the transcript)."""
        text = self.transcript[self.chat_start :] if within is None else within
        found = [
            f"#{number}.{index}"
            for number, _, labels in own_messages(text)
            for index, button in enumerate(labels, 1)
            if label in button
        ]
        return found[-1] if found else None

    async def press(self, label: str) -> str:
        button = self.button(label)
        assert button, f"no button {label!r} in:\n{self.transcript[self.chat_start :]}"
        return await self.type(button)

    async def close(self) -> int:
        assert self.task is not None
        self.keyboard.lines.put("")
        return await asyncio.wait_for(self.task, 60)


Start = Callable[..., Awaitable[Session]]


@pytest.fixture
async def consoles() -> AsyncIterator[Start]:
    """Starts console sessions; each is stopped at the end, also when a test failed."""
    sessions: list[Session] = []

    async def start(
        config: AppConfig, clock: FakeClock, files: Path, user_id: int = 1001, tty: bool = False
    ) -> Session:
        out = io.StringIO()
        keyboard = Keyboard(tty)
        session = Session(out, keyboard)
        sessions.append(session)
        session.task = asyncio.create_task(
            run_console(
                lambda: build_services(config, clock),
                user_id,
                "nl",
                cast(TextIO, keyboard),
                out,
                files=files,
            )
        )
        await asyncio.wait_for(keyboard.ready.wait(), 60)
        return session

    yield start
    for session in sessions:
        if session.task is not None and not session.task.done():
            await session.close()


@pytest.fixture
def test_config(config: AppConfig) -> AppConfig:
    """Organisers: none in config (the console makes 9001 one); the test activities."""
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities, "admins": ()})


# The steps of a sign-up, by the labels of their buttons; the helper presses whichever the
# bot offers next, so it follows the flow in whatever order it asks.
STEPS = (
    "Ja, op de wachtlijst",
    "Ja, klopt",
    "Onderwijs",
    "Overslaan",
    "Geen vraag",
    "akkoord",
    "Bevestigen",
)


async def sign_up(session: Session, slug: str, name: str, role: str = "Ouder") -> str:
    """Sign up as a person would, by pressing buttons and typing the name when asked."""
    shown = last = await session.type(f"/start signup_{slug}")
    for _ in range(15):
        if "Je bent aangemeld" in last or "Je staat op de wachtlijst voor" in last:
            return shown
        if "Wat is je naam?" in last:
            last = await session.type(name)
        else:
            pressable = (session.button(label, last) for label in (*STEPS, role))
            ref = next((button for button in pressable if button), None)
            assert ref, f"sign-up stuck at:\n{last}"
            last = await session.type(ref)
        shown += last
    raise AssertionError(f"sign-up did not finish:\n{shown}")


def saved_files(text: str) -> list[Path]:
    return [Path(path) for path in SAVED.findall(text)]


# -- the "done": one session, without Telegram ------------------------------------------


async def test_two_parents_a_full_activity_a_cancellation_a_promotion_and_a_reminder(
    consoles: Start, test_config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    session = await consoles(test_config, clock, files)
    # "Kleine dialoog" has 2 places: Anna and Bram take them, Carla goes on the waiting list.
    anna = await sign_up(session, "kleine-dialoog", "Anna de Vries")
    assert "Je bent aangemeld" in anna
    assert await session.type("/als 1002") == "> /als 1002\n(je bent nu gebruiker 1002)\n"
    assert "Je bent aangemeld" in await sign_up(session, "kleine-dialoog", "Bram Bakker")
    await session.type("/als 1003")
    carla = await sign_up(session, "kleine-dialoog", "Carla Jansen")
    assert "wachtlijst" in carla and "Je bent aangemeld" not in carla

    # Anna cancels, from her own chat; Carla is promoted, in hers.
    await session.type("/als 1001")
    await session.type("/mijnaanmeldingen")
    await session.press("Afmelden")
    cancelled = await session.press("Ja, afmelden")
    assert "Je bent afgemeld" in cancelled
    [promotion] = [line for line in cancelled.splitlines() if "Goed nieuws" in line]
    assert re.match(r"^\[\d+\] bot ⇢ aan gebruiker 1003: 🎉 Goed nieuws!", promotion)
    assert "Goed nieuws" not in session.transcript.replace(cancelled, "")

    # Two days and two hours before 18 May 14:00, the reminders: Carla's in her own chat.
    await session.type("/als 1003")
    waited = await session.type("/wacht 77d")
    assert waited.startswith("> /wacht 77d\n(de klok van de bot is 77d vooruitgezet")
    reminders = [line for line in waited.splitlines() if "Herinnering" in line]
    assert len(reminders) == 2, waited
    assert any(re.match(r"^\[\d+\] bot ⇢ ⏰ Herinnering", line) for line in reminders)
    assert any("bot ⇢ aan gebruiker 1002: ⏰ Herinnering" in line for line in reminders)
    assert not any("1001" in line for line in reminders)  # Anna cancelled
    assert await session.close() == 0

    # The calendar files are on disk and open as calendars.
    ics = [path for path in saved_files(session.transcript) if path.suffix == ".ics"]
    assert ics and all(path.parent == files.resolve() for path in ics)
    for path in ics:
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
        [event] = calendar.walk("VEVENT")
        assert "Kleine dialoog" in str(event["SUMMARY"])
    # Every message is shown once: a number is printed again only for an edit.
    numbers = re.findall(r"^\[(\d+)\] bot(?:>| ⇢)(?! \(bewerkt\))", session.transcript, re.M)
    assert len(numbers) == len(set(numbers))


# -- #M.N reaches earlier messages ------------------------------------------------------------


async def test_a_button_of_an_earlier_message(
    consoles: Start, config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    session = await consoles(config, clock, tmp_path / "files")
    await sign_up(session, "schone-lei-arnhem", "Anna de Vries")
    await sign_up(session, "werksessie-inspiratienetwerk", "Anna de Vries")
    mine = await session.type("/mijnaanmeldingen")
    # The first of the two registrations: not the newest message with buttons.
    blocks = [(number, labels) for number, _, labels in own_messages(mine) if labels]
    assert [first for _, first, labels in own_messages(mine) if labels] == [
        "Schone Lei werksessie – Arnhem · Werksessie",
        "Werksessie inspiratienetwerk · Werksessie",
    ]
    arnhem, labels = blocks[0]
    cancel = next(n for n, label in enumerate(labels, 1) if "Afmelden" in label)
    await session.type(f"#{arnhem}.{cancel}")
    done = await session.press("Ja, afmelden")
    assert "Je bent afgemeld voor Schone Lei werksessie – Arnhem" in done
    assert "(geen knop met dat nummer)" in await session.type("#999.1")
    assert "(geen knop met dat nummer)" in await session.type(f"#{arnhem}.9")
    # A message in another user's chat is theirs to press.
    await session.type("/als 1002")
    other = await session.type(f"#{arnhem}.1")
    assert f"(bericht [{arnhem}] staat in de chat van gebruiker 1001" in other
    await session.close()


# -- the clock moves: offers lapse and pass on ------------------------------------------------


async def test_wait_lets_an_offer_lapse_and_the_next_one_gets_it(
    consoles: Start, test_config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    """ "Fieldlab met aanbod": 1 place, a freed place is offered for 24 hours."""
    session = await consoles(test_config, clock, tmp_path / "files")
    await sign_up(session, "fieldlab-aanbod", "Anna de Vries", role="Professional")
    for user, name in ((1002, "Bram Bakker"), (1003, "Carla Jansen")):
        await session.type(f"/als {user}")
        await sign_up(session, "fieldlab-aanbod", name, "Professional")
    await session.type("/als 1001")
    await session.type("/mijnaanmeldingen")
    await session.press("Afmelden")
    cancelled = await session.press("Ja, afmelden")
    assert "bot ⇢ aan gebruiker 1002: 🎟 Er is een plek vrijgekomen!" in cancelled
    assert "1003" not in cancelled
    assert "(schrijf /wacht en hoe lang" in await session.type("/wacht morgen")
    waited = await session.type("/wacht 25h")
    assert "bot ⇢ aan gebruiker 1002: De tijd om je plek te claimen is voorbij" in waited
    assert "bot ⇢ aan gebruiker 1003: 🎟 Er is een plek vrijgekomen!" in waited
    await session.close()


async def test_what_falls_due_while_nobody_types_is_shown_when_it_arrives(
    consoles: Start, test_config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    session = await consoles(test_config, clock, tmp_path / "files")
    await sign_up(session, "kleine-dialoog", "Anna de Vries")
    before = len(session.transcript)
    clock.advance(timedelta(days=77))  # the bot's own clock, not the console's /wacht
    for _ in range(200):  # the outbox looks every second
        if "Herinnering" in session.transcript[before:]:
            break
        await asyncio.sleep(0.05)
    [reminder] = session.transcript[before:].splitlines()[:1]
    assert re.match(r"^\[\d+\] bot ⇢ ⏰ Herinnering", reminder)
    await session.close()
    assert session.transcript.count("⏰ Herinnering") == 1


# -- organisers, the banner and the saved export ----------------------------------------------


async def test_the_organiser_sees_the_attendees_and_gets_the_csv_saved(
    consoles: Start, test_config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    session = await consoles(test_config, clock, files, tty=True)
    banner = session.transcript
    assert "/als 1002" in banner and "/wacht 2d" in banner and "#3.2" in banner
    assert f"gebruiker {ADMIN_ID} is organisator" in banner and str(files) in banner
    await sign_up(session, "kleine-dialoog", "Anna de Vries")
    assert "organisator" in await session.type(f"/als {ADMIN_ID}")
    await session.type("/deelnemers")
    shown = await session.press("Kleine dialoog")
    assert "• Anna de Vries" in shown
    [workbook] = [path for path in saved_files(shown) if path.suffix == ".xlsx"]
    sheet = openpyxl.load_workbook(workbook).active
    assert sheet is not None and sheet["A2"].value == "Anna de Vries"
    await session.close()


def test_the_catalogues_explain_the_console_commands() -> None:
    catalogue = Catalogue.load()
    english = catalogue.text("en", "console_help")
    assert "#3.2" in english and "/user 1002" in english and "/wait 2d" in english
    assert ">3 text" in english and "/console" in english


# -- the command line: logs stay out of the chat, `faq match` shows no fallback topic ---------


def run(args: list[str], stdin: str, tmp_path: Path) -> tuple[str, str]:
    import os

    config = tmp_path / "config.yaml"
    config.write_text(
        f"storage:\n  url: sqlite:///{tmp_path / 'console.sqlite3'}\n"
        f"activities:\n  file: {TEST_ACTIVITIES}\n",
        encoding="utf-8",
    )
    environment = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    environment["MAO_CONFIG"] = str(config)
    result = run_cli(args, env=environment, cwd=ROOT, stdin=stdin, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def test_logs_go_to_a_file_not_into_the_chat(tmp_path: Path) -> None:
    files = tmp_path / "files"
    out, err = run(
        ["console", "--files", str(files), "--organiser", "4242"],
        "/omroep\n/als 4242\n/omroep\n",
        tmp_path,
    )
    assert "Sorry, dit kunnen alleen de organisatoren" in out
    assert "(je bent nu gebruiker 4242, organisator)" in out
    assert "Aan wie wil je een aankondiging sturen?" in out
    assert "refused" not in out and "refused" not in err and "INFO" not in err
    log = (files / "console.log").read_text(encoding="utf-8")
    assert "Organiser command refused for user 1001" in log


def test_faq_match_shows_no_topic_for_the_fallback(tmp_path: Path) -> None:
    out, _ = run(["faq", "match"], "vertel eens een mop\nwat is een fieldlab\n", tmp_path)
    fallback, answer = out.splitlines()
    assert re.fullmatch(r"fallback\s+0\.0 -\s+vertel eens een mop", fallback)
    assert re.fullmatch(r"answer\s+\d+\.\d fieldlab\s+wat is een fieldlab", answer)


# -- answering a thread: `>M text` is Telegram's reply ----------------------------------------

QUESTION = "Mijn zoon <12> & zijn juf praten langs elkaar heen, wie kan daar eens naar kijken?"


def numbered(text: str, pattern: str) -> str:
    """The number of the newest message whose first line matches `pattern`."""
    found: list[str] = re.findall(rf"^\[(\d+)\] {pattern}", text, re.M)
    assert found, f"no message like {pattern!r} in:\n{text}"
    return found[-1]


async def test_an_organiser_answers_a_question_and_the_parent_answers_back_in_the_console(
    consoles: Start, test_config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    session = await consoles(test_config, clock, tmp_path / "files")
    await session.type(QUESTION)
    await session.press("programmabureau")
    sent = await session.press("Ja, versturen")
    assert "Verstuurd naar het programmabureau" in sent
    # The copy went to the organiser's chat; as the organiser, reply to it by its number.
    copy = numbered(session.transcript, rf"bot ⇢ aan gebruiker {ADMIN_ID}: 📥 Vraag #1")
    await session.type(f"/als {ADMIN_ID}")
    answered = await session.type(f">{copy} Bel ons gerust op dinsdag.")
    assert "✅ Je antwoord gaat naar Test (Vraag #1)." in answered
    assert "bot ⇢ aan gebruiker 1001: 💬 Antwoord van het programmabureau" in answered
    # The parent replies to the answer the same way: it goes back to the thread, not the FAQ.
    answer = numbered(answered, "bot ⇢ aan gebruiker 1001: 💬 Antwoord")
    await session.type("/als 1001")
    back = await session.type(f">{answer} Dank je, dan bel ik dinsdag!")
    assert "✅ Doorgestuurd naar het programmabureau (#1)." in back
    assert f"bot ⇢ aan gebruiker {ADMIN_ID}: ↩️ Vraag #1: reactie" in back

    # Closing with a line of one's own: the bot asks for it, and a plain line answers.
    await session.type(f"/als {ADMIN_ID}")
    await session.type("/vragen")
    await session.press("#1 afgehandeld")
    await session.press("Zelf een zin typen")
    assert "(typ je antwoord: het wordt een antwoord op dit bericht)" in session.transcript
    closed = await session.type("Fijn, succes dinsdag!")
    assert "✅ Je antwoord gaat naar Test (Vraag #1)." in closed
    assert "bot ⇢ aan gebruiker 1001: 💬 Antwoord van het programmabureau" in closed
    assert "Er zijn geen open berichten" in await session.type("/vragen")
    assert "(er is geen bericht [999]" in await session.type(">999 hallo")
    await session.close()
    # The bot's HTML is text: the quote is indented, no tag is shown.
    assert "  │ Mijn zoon <12> & zijn juf" in session.transcript
    assert not re.search(r"</?(b|i|blockquote|a|code)>", session.transcript)


# -- images, formatting, help -------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_qr_codes_are_saved_like_documents(
    consoles: Start, test_config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    session = await consoles(test_config, clock, files, user_id=ADMIN_ID)
    await session.type("/activiteiten")
    await session.press("Kleine dialoog")
    shared = await session.press("Link en QR-code")
    images = saved_files(shared)
    assert [path.name for path in images] == [
        "aanmelden-kleine-dialoog.png",
        "inchecken-kleine-dialoog.png",
    ]
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in images)
    assert re.search(r"^\[\d+\] bot> 🖼 aanmelden-kleine-dialoog.png ", shared, re.M)
    # The console's own commands, also when piped.
    shown = await session.type("/console")
    assert ">3 tekst" in shown and "#3.2" in shown and "/als 1002" in shown
    await session.close()


def test_html_is_terminal_formatting_on_a_terminal_and_plain_text_in_a_pipe() -> None:
    text = (
        "<b>Vet</b> <i>schuin</i>\n<blockquote>regel 1\nregel 2</blockquote>\n"
        '<a href="https://x.nl">site</a> &amp; <code>c</code>'
    )
    assert render(text) == "Vet schuin\n  │ regel 1\n  │ regel 2\nsite (https://x.nl) & c"
    ansi = render(text, ansi=True)
    assert "\x1b[1mVet\x1b[22m" in ansi and "\x1b[3mschuin\x1b[23m" in ansi
    assert "  │ regel 1" in ansi and "<" not in ansi


async def test_a_terminal_gets_formatting(
    test_config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    out = Terminal()
    stdin = io.StringIO("/help\n")
    await run_console(
        lambda: build_services(test_config, clock), 1001, "nl", stdin, out, files=tmp_path
    )
    assert "\x1b[1mWat ik kan\x1b[22m" in out.getvalue()
    assert "<b>" not in out.getvalue()


async def test_the_picker_shortens_the_place_before_the_title(
    consoles: Start, config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    session = await consoles(config, clock, tmp_path / "files")
    [(_, _, labels)] = own_messages(await session.type("/aanmelden"))
    [werksessie] = [label for label in labels if label.startswith("Werksessie")]
    assert werksessie.startswith("Werksessie inspiratienetwerk · ")
    assert " · plaats niet bekend" in werksessie and len(werksessie) <= 60
    assert labels[0].startswith("Schone Lei werksessie – Arnhem · ")  # what fits stays whole
    await session.close()
