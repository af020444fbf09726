"""Secrets and personal data stay out of the logs and the miss list; a failed start is one line.

`mao-bot run` is spawned as a real process (against the Bot API stand-in where it needs
Telegram); the log tests run the real Application through the driver.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_process import run_cli
from conftest import ROOT, texts
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.config import AppConfig
from bot.logs import LIBRARY_LEVELS, setup_logging
from bot.offline.driver import BotDriver
from bot.offline.standin import BotApiStandIn
from faq.misses import is_question_worth_keeping
from storage.db import Database
from storage.models import FaqMiss, Profile

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
WRONG_TOKEN = "987654:WrongTokenThatMustNeverBePrinted"
USER = 3101


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"storage:\n  url: sqlite:///{tmp_path / 'bot.sqlite3'}\nactivities:\n  file: null\n"
        + extra,
        encoding="utf-8",
    )
    return path


def cli_environment(config: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "MAO_LOG_LEVEL", "MAO_LOG_LIBRARIES", "TELEGRAM_BASE_URL")
    }
    env.update({"TELEGRAM_BOT_TOKEN": WRONG_TOKEN, "MAO_CONFIG": str(config)})
    env.update(overrides)
    return env


async def mao_bot(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The command in a process of its own (tests/cli_process.py)."""
    done = await asyncio.to_thread(run_cli, args, env=env, cwd=ROOT, timeout=60)
    return done.returncode, done.stdout, done.stderr


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error")]


# -- a failed start: one line, no traceback, no token ------------------------------------------


@pytest.mark.parametrize("level", ["INFO", "WARNING"])
async def test_a_rejected_token_is_one_line_and_never_printed(tmp_path: Path, level: str) -> None:
    standin = BotApiStandIn()  # answers 401 to any token but its own
    await standin.start()
    try:
        env = cli_environment(
            config_file(tmp_path),
            TELEGRAM_BASE_URL=f"http://127.0.0.1:{standin.port}",
            MAO_LOG_LEVEL=level,
        )
        code, stdout, stderr = await mao_bot(env, "run")
    finally:
        await standin.stop()
    assert code == 1
    line = "error: Telegram rejected the bot token (check TELEGRAM_BOT_TOKEN)"
    assert error_lines(stderr) == [line]
    assert "Traceback" not in stderr
    assert WRONG_TOKEN not in stdout + stderr
    assert WRONG_TOKEN.split(":")[1] not in stdout + stderr
    if level == "WARNING":
        assert stderr.strip() == line  # nothing else at all


async def test_no_network_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    env = cli_environment(config_file(tmp_path), TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}")
    code, stdout, stderr = await mao_bot(env, "run")
    assert code == 1
    [line] = error_lines(stderr)
    assert line.startswith(f"error: cannot reach Telegram at http://127.0.0.1:{port}: ")
    assert "Traceback" not in stderr
    assert WRONG_TOKEN not in stdout + stderr


async def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = cli_environment(
        config_file(tmp_path),
        DATABASE_URL="postgresql+psycopg://nobody:pw-secret@127.0.0.1:1/x",
        MAO_LOG_LEVEL="WARNING",
    )
    code, stdout, stderr = await mao_bot(env, "run")
    assert code == 1
    [line] = error_lines(stderr)
    assert line.startswith("error: database postgresql+psycopg://nobody:***@127.0.0.1:1/x: ")
    assert "Traceback" not in stderr
    assert "pw-secret" not in stdout + stderr


@pytest.mark.parametrize("command", ["run", "check-config"])
async def test_webhook_mode_without_its_url_is_one_line(tmp_path: Path, command: str) -> None:
    env = cli_environment(config_file(tmp_path, "telegram:\n  mode: webhook\n"))
    code, _, stderr = await mao_bot(env, command)
    assert code == 1
    [line] = error_lines(stderr)
    assert line.startswith("error: ") and "webhook_url" in line and "required" in line
    assert "Traceback" not in stderr


async def test_a_bad_log_level_is_one_line(tmp_path: Path) -> None:
    env = cli_environment(config_file(tmp_path), MAO_LOG_LIBRARIES="LOUD")
    code, _, stderr = await mao_bot(env, "run")
    assert code == 1
    assert error_lines(stderr) == [
        "error: MAO_LOG_LIBRARIES: unknown log level 'LOUD' (DEBUG, INFO, WARNING, ERROR)"
    ]


# -- the log itself ----------------------------------------------------------------------------


@contextmanager
def bot_logging(level: str, secrets: list[str]) -> Iterator[io.StringIO]:
    """Logging as `mao-bot run` sets it up, its output in a buffer; pytest's own capture
    handlers (caplog) stay attached. Everything is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in LIBRARY_LEVELS}
    buffer = io.StringIO()
    try:
        setup_logging(level, secrets)
        [bot_handler] = root.handlers
        assert isinstance(bot_handler, logging.StreamHandler)
        bot_handler.setStream(buffer)
        root.handlers[:] = [*saved_handlers, bot_handler]
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, library_level in saved_levels.items():
            logging.getLogger(name).setLevel(library_level)


async def test_debug_logging_keeps_message_texts_names_and_the_token_out(
    driver: BotDriver, caplog: pytest.LogCaptureFixture
) -> None:
    question = "Hoe zit het met de Zebrakwestie van mijn dochter?"
    name = "Zwaantje Quaak"
    token = driver.standin.token
    with bot_logging("DEBUG", [token]) as output:
        await driver.say(USER, question)
        await driver.say(USER, "/start signup_kleine-dialoog")
        await driver.press(USER, "Ouder")
        await driver.say(USER, name)
        await driver.say(USER, "zwaantje@example.org")
        await driver.press(USER, "Geen vraag")
        await driver.press(USER, "akkoord")
        calls = await driver.press(USER, "Bevestigen")
        assert any("Je bent aangemeld" in t for t in texts(calls))
        logging.getLogger("bot").debug("the application's own debug lines are kept")
    logged = caplog.text + output.getvalue()
    assert "the application's own debug lines are kept" in logged
    for private in ("Zebrakwestie", "Zwaantje", "zwaantje@example.org", token):
        assert private not in logged, private


def test_libraries_stay_at_info_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    with bot_logging("DEBUG", []):
        assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
        for name in ("telegram", "telegram.ext", "httpx", "httpcore", "sqlalchemy.engine"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name
    monkeypatch.setenv("MAO_LOG_LIBRARIES", "debug")
    with bot_logging("DEBUG", []):
        assert logging.getLogger("telegram.ext").getEffectiveLevel() == logging.DEBUG
    monkeypatch.delenv("MAO_LOG_LIBRARIES")
    with bot_logging("WARNING", []):
        # A quieter application makes the libraries quieter too, never louder.
        assert logging.getLogger("telegram").getEffectiveLevel() == logging.WARNING


def test_tracebacks_are_redacted_too() -> None:
    secret = "123456:TracebackSecret"
    with bot_logging("INFO", [secret]) as output:
        try:
            raise ValueError(f"The token `{secret}` was rejected by the server.")
        except ValueError:
            logging.getLogger("bot.test").exception("start failed")
    text = output.getvalue()
    assert "Traceback" in text and "ValueError: The token `[REDACTED]` was rejected" in text
    assert secret not in text


def test_a_database_error_does_not_quote_the_values(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'params.sqlite3'}")
    database.upgrade()
    with database.session() as session:
        session.add(Profile(user_id=1, name="Mirjam Geheimnaam", role="ouder", email="m@x.nl"))
    with pytest.raises(IntegrityError) as raised, database.session() as session:
        session.add(Profile(user_id=1, name="Mirjam Geheimnaam", role="ouder", email="m@x.nl"))
    database.dispose()
    assert "Geheimnaam" not in str(raised.value)
    assert "m@x.nl" not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)


# -- the miss list keeps questions, not what people type for a flow ----------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # What people type for a flow, or just after stopping one: never kept.
        ("Jan Jansen", False),
        ("Anna de Vries", False),
        ("Wil de Vries", False),  # "wil" opens questions, but is also a first name
        ("Ben van Dam", False),
        ("Can de Boer", False),
        ("jan@example.org", False),
        ("mijn mail is jan@example.org", False),
        ("wat is het adres? bel me op 06-12345678", False),
        ("0612345678", False),
        ("ouder", False),
        ("ja", False),
        ("Graag koffie", False),
        ("Ik kom met twee collega's", False),
        # Too short to say what content is missing.
        ("parkeren?", False),
        ("wat dan", False),
        # Questions: kept.
        ("wat kost parkeren bij het gemeentehuis", True),
        ("Hoeveel kost een fieldlab?", True),
        ("kan ik mijn kind meenemen", True),
        ("Is er koffie", True),
        ("mag je daar roken", True),
        ("is parkeren gratis?", True),
        ("en hoe zit het met vervoer", True),
        ("vertel iets over de subsidie", True),
        ("where can I park my car", True),
        ("can I bring my child", True),
        ("Do you have a newsletter", True),
        ("parking near the venue?", True),
    ],
)
def test_which_unanswered_texts_are_kept(text: str, kept: bool) -> None:
    assert is_question_worth_keeping(text) is kept


def misses(driver: BotDriver) -> list[str]:
    with driver.services.db.session() as session:
        return list(session.scalars(select(FaqMiss.question).order_by(FaqMiss.id)))


async def test_a_name_typed_after_stopping_a_sign_up_is_not_kept(driver: BotDriver) -> None:
    await driver.say(USER, "/start signup_kleine-dialoog")
    await driver.press(USER, "Ouder")
    calls = await driver.say(USER, "/annuleer")
    assert texts(calls)
    calls = await driver.say(USER, "Jan Jansen")
    assert texts(calls)  # the honest fallback still answers
    assert misses(driver) == []
    await driver.say(USER, "wat kost parkeren bij het gemeentehuis?")
    assert misses(driver) == ["wat kost parkeren bij het gemeentehuis?"]
    with driver.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(FaqMiss)) == 1


def _seconds(text: str) -> float:
    return min(timeit.repeat(lambda: is_question_worth_keeping(text), number=3, repeat=5)) / 3


def test_a_long_word_costs_linear_time_in_the_email_check() -> None:
    """A word of 16 KB costs about 8 times one of 2 KB, not 64 times (the e-mail pattern used
    to scan a word without "@" again from each of its characters)."""
    assert not is_question_worth_keeping("x" * 2048)
    short, long = _seconds("x" * 2048), _seconds("x" * 16384)
    assert long < 24 * short, (short, long)
    # Still found where it matters: an address anywhere in a message.
    assert not is_question_worth_keeping("wat is er " + "x" * 5000 + " mail me: jan@example.org")
    assert not is_question_worth_keeping("mijn adres <jan.de.vries@example.org>, wat nu?")
