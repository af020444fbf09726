"""Config loading: errors name the file and the field; the environment overrides."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cli_process import run_cli as run_mao_bot

from bot.config import ConfigError, bot_token, load_config
from storage.durations import parse_duration

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml", environ={})
    assert config.timezone == "Europe/Amsterdam"
    assert config.contact.email == "metandereogen@vng.nl"
    assert config.language.default == "nl"
    assert config.faq.content.is_dir()


def test_threshold_out_of_range_names_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "faq:\n  thresholds:\n    answer: 140\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert str(error.value) == f"{path}: faq.thresholds.answer: must be between 0 and 100"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("timezone: Mars/Olympus\n", "timezone: unknown time zone 'Mars/Olympus'"),
        ("language:\n  default: fr\n", "language.default: input should be 'nl' or 'en'"),
        ("telegram:\n  mode: carrier-pigeon\n", "telegram.mode:"),
        ("admins: [abc]\n", "admins.0:"),
        ("surprise: 1\n", "surprise: unknown setting"),
        ("reminders:\n  offsets: [2x]\n", "reminders.offsets.0: '2x' is not a duration"),
        ("- just\n- a list\n", "must be a mapping"),
        ("faq: [unclosed\n", "cannot be read"),
    ],
)
def test_bad_values_are_reported_readably(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_suggest_above_answer_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "faq:\n  thresholds:\n    answer: 50\n    suggest: 60\n")
    with pytest.raises(ConfigError, match=r"faq\.thresholds\.suggest"):
        load_config(path, environ={})


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  url: sqlite:///x.sqlite3\n")
    config = load_config(
        path,
        environ={
            "DATABASE_URL": "postgresql+psycopg://mao:secret@db/mao",
            "TELEGRAM_BASE_URL": "http://127.0.0.1:8081",
        },
    )
    assert config.storage.url == "postgresql+psycopg://mao:secret@db/mao"
    assert config.telegram.base_url == "http://127.0.0.1:8081/bot"
    assert config.telegram.base_file_url == "http://127.0.0.1:8081/file/bot"


def test_mao_config_points_at_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml", environ={"MAO_CONFIG": "nope.yaml"})


def test_relative_faq_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, "faq:\n  content: my-faq\n")
    assert load_config(path, environ={}).faq.content == tmp_path / "my-faq"


def test_missing_token_is_one_clear_line() -> None:
    with pytest.raises(ConfigError) as error:
        bot_token(environ={})
    assert "TELEGRAM_BOT_TOKEN" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("2d", timedelta(days=2)),
        ("PT2H", timedelta(hours=2)),
        ("P1DT30M", timedelta(days=1, minutes=30)),
    ],
)
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return run_mao_bot(args, env=env, cwd=ROOT, stdin=stdin)


def test_check_config_cli_names_the_bad_field(tmp_path: Path) -> None:
    path = write(tmp_path, "faq:\n  thresholds:\n    answer: -3\n")
    result = run_cli("--config", str(path), "check-config")
    assert result.returncode == 1
    assert "faq.thresholds.answer: must be between 0 and 100" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_cli_accepts_the_shipped_config() -> None:
    result = run_cli("check-config")
    assert result.returncode == 0, result.stderr
    assert "28 FAQ entries" in result.stdout


def test_check_config_reports_broken_faq_content(tmp_path: Path) -> None:
    faq = tmp_path / "faq.yaml"
    faq.write_text(
        "entries:\n"
        "  - id: a\n    nl: {question: Q, answer: ''}\n    en: {question: Q, answer: A}\n"
        "  - id: a\n    nl: {question: Q, answer: A}\n    en: {question: Q, answer: <b>A}\n"
        "  - id: b\n    nl: {question: Q, answer: A}\n",
        encoding="utf-8",
    )
    path = write(tmp_path, f"faq:\n  content: {faq}\n")
    result = run_cli("--config", str(path), "check-config")
    assert result.returncode == 1
    assert "entries.2.en: field required" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_check_config_reports_duplicates_and_empty_answers(tmp_path: Path) -> None:
    faq = tmp_path / "faq.yaml"
    faq.write_text(
        "entries:\n"
        "  - id: a\n    nl: {question: Q, answer: ''}\n    en: {question: Q, answer: A}\n"
        "  - id: a\n    nl: {question: Q, answer: A}\n    en: {question: Q, answer: <b>A}\n",
        encoding="utf-8",
    )
    path = write(tmp_path, f"faq:\n  content: {faq}\n")
    result = run_cli("--config", str(path), "check-config")
    assert result.returncode == 1
    assert "duplicate id 'a'" in result.stderr
    assert "a.nl.answer: is empty" in result.stderr
    assert "a.en.answer: unclosed tag <b>" in result.stderr
