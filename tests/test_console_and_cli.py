"""`mao-bot console` piped, and `mao-bot faq match`, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_process import run_cli

from bot.cli import main
from storage.db import Database

ROOT = Path(__file__).resolve().parents[1]


def mao_bot() -> list[str]:
    """The installed console script when there is one, as README tells people to run it."""
    script = Path(sys.executable).parent / "mao-bot"
    if script.exists():
        return [str(script)]
    found = shutil.which("mao-bot")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"storage:\n  url: sqlite:///{tmp_path / 'console.sqlite3'}\n"
        f"activities:\n  file: {ROOT / 'activities.yaml'}\n",
        encoding="utf-8",
    )
    environment = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    environment["MAO_CONFIG"] = str(config)
    return environment


def run(
    args: list[str], stdin: str, env: dict[str, str], *, installed_script: bool = False
) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own (tests/cli_process.py); `installed_script`: by
    starting the installed `mao-bot` itself, as README tells people to."""
    if args[:1] == ["console"]:
        # Its saved documents and log go next to the test's config, not into the repository.
        args = [*args, "--files", str(Path(env["MAO_CONFIG"]).parent / "console-files")]
    if not installed_script:
        return run_cli(args, env=env, cwd=ROOT, stdin=stdin, timeout=180)
    return subprocess.run(
        [*mao_bot(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
    )


def test_console_piped_answers_and_falls_back(env: dict[str, str]) -> None:
    result = run(["console"], "wat is een fieldlab\nhoe laat is het in Tokio\n", env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "> wat is een fieldlab" in out
    fieldlab_part = out.split("> hoe laat is het in Tokio")[0]
    assert "fieldlab" in fieldlab_part.lower() and "bot>" in fieldlab_part
    fallback_part = out.split("> hoe laat is het in Tokio")[1]
    assert "metandereogen@vng.nl" in fallback_part
    assert "<b>" not in out  # HTML is rendered as plain text


@pytest.mark.slow
def test_console_buttons_and_signup(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = "\n".join(
        [
            "/agenda",
            "#1",  # the first "Aanmelden" button
            "#1",  # role: ouder
            "Anna de Vries",
            "#1",  # skip e-mail
            "#1",  # no question
            "#1",  # consent
            "#1",  # confirm
            "/mijnaanmeldingen",
            "#9",
        ]
    )
    result = run(["console", "--user-id", "4242"], script + "\n", env)
    assert result.returncode == 0, result.stderr
    assert "[1] Aanmelden:" in result.stdout
    assert "Je bent aangemeld" in result.stdout
    assert "📎 mao-" in result.stdout and ".ics" in result.stdout
    assert "✅ Aangemeld" in result.stdout
    assert "(geen knop met dat nummer)" in result.stdout
    # The console is a demo: its first example activity takes a (demo) sign-up, in the
    # console's own database (in its files folder), not in the one `mao-bot run` uses.
    # (In this process: a process start costs a second of CPU.)
    export = ["--config", env["MAO_CONFIG"], "export", "registrations", "schone-lei-arnhem"]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    main(export)  # that database has no activities loaded: "no activity with slug"
    assert "Anna de Vries" not in capsys.readouterr().out
    files = Path(env["MAO_CONFIG"]).parent / "console-files"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{files / 'console.sqlite3'}")
    assert main(export) == 0
    assert "Anna de Vries" in capsys.readouterr().out


def test_console_help_lists_its_own_commands_and_database_choice(
    env: dict[str, str], tmp_path: Path
) -> None:
    shown = run(["console", "--help"], "", env, installed_script=True).stdout
    for command in ("#3.2", ">3 text", "/user 1002", "/wait 2d", "/console", "--database"):
        assert command in shown
    # Its database: `--database`, else its own file; never the config's nor DATABASE_URL
    # (set on a server for the real bot).
    from bot.cli import _parser, console_database

    files = tmp_path / "files"
    args = _parser().parse_args(["console", "--files", str(files)])
    own = f"sqlite:///{(files / 'console.sqlite3').resolve()}"
    assert console_database(args, {}) == own
    assert console_database(args, {"DATABASE_URL": "postgresql://db/x"}) == own
    args = _parser().parse_args(["console", "--database", "sqlite:///demo.db"])
    assert console_database(args, {"DATABASE_URL": "postgresql://db/x"}) == "sqlite:///demo.db"


def test_console_in_english(env: dict[str, str]) -> None:
    result = run(["console", "--lang", "en"], "/start\n", env)
    assert result.returncode == 0
    assert "Hi Test!" in result.stdout


def test_run_without_token_is_one_clear_line(env: dict[str, str]) -> None:
    result = run(["run"], "", env)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "TELEGRAM_BOT_TOKEN" in result.stderr


def test_faq_match_json(env: dict[str, str]) -> None:
    result = run(
        ["faq", "match", "--json"], "wie betaalt met andere ogen\n\nvertel eens een mop\n", env
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["question"] == "wie betaalt met andere ogen"
    assert lines[0]["id"] == "opdrachtgevers"
    assert lines[0]["band"] == "answer"
    assert set(lines[0]) == {"question", "id", "score", "band"}
    assert lines[1]["id"] is None and lines[1]["band"] in {"fallback", "suggest"}


def test_db_upgrade(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["db", "upgrade"], "", env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "console.sqlite3").exists()


def test_a_read_only_database_at_start_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'console.sqlite3'}")  # as `db upgrade` does
    database.upgrade()
    database.dispose()
    # Read-only as SQLite sees it (file permissions do not stop root, who runs CI).
    read_only = f"sqlite:///file:{tmp_path / 'console.sqlite3'}?mode=ro&uri=true"
    config = tmp_path / "ro.yaml"
    config.write_text(f"storage:\n  url: {read_only}\nactivities:\n  file: null\n")
    env["MAO_CONFIG"] = str(config)
    env["TELEGRAM_BOT_TOKEN"] = "123:ABC"
    result = run(["run"], "", env)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: database sqlite:///")
    assert lines[0].endswith(
        "console.sqlite3?mode=ro&uri=true: attempt to write a readonly database"
    )
    assert "Traceback" not in result.stderr
