"""Organisers: `mao-bot admin add|remove|list`, the menu they get, and refusals for others."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from conftest import ADMIN_ID, ROOT, FakeClock, texts
from sqlalchemy import select

from bot.cli import main
from bot.config import AppConfig, load_config
from bot.offline.driver import BotDriver
from bot.services import build_services
from core import callbacks
from storage.models import Broadcast
from storage.vocabulary import Recipients


def copied_config(tmp_path: Path) -> Path:
    """The committed config.yaml, copied to a folder outside the repository."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    shutil.copy(ROOT / "config.yaml", folder / "config.yaml")
    return folder / "config.yaml"


def test_a_copied_config_works_outside_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copied_config(tmp_path)
    monkeypatch.chdir(tmp_path)  # another working directory again
    config = load_config(path, environ={})
    assert config.faq.content.exists()
    # The SQLite file lives beside the config file, not in the working directory.
    assert config.storage.url == f"sqlite:///{path.parent / 'data' / 'mao-bot.sqlite3'}"
    assert main(["--config", str(path), "check-config"]) == 0
    assert main(["--config", str(path), "admin", "add", "42"]) == 0
    assert (path.parent / "data" / "mao-bot.sqlite3").exists()
    assert not (tmp_path / "data").exists()
    capsys.readouterr()
    assert main(["--config", str(path), "admin", "list"]) == 0
    assert "42  (database" in capsys.readouterr().out


def config_file(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"storage:\n  url: {db_url}\nadmins: [{ADMIN_ID}]\n", encoding="utf-8")
    return path


async def test_admin_add_then_remove(
    tmp_path: Path,
    db_url: str,
    config: AppConfig,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = config_file(tmp_path, db_url)
    assert main(["--config", str(path), "admin", "add", "42"]) == 0
    assert "42 is now an organiser" in capsys.readouterr().out
    assert main(["--config", str(path), "admin", "add", "42"]) == 0
    assert "already" in capsys.readouterr().out
    assert main(["--config", str(path), "admin", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{ADMIN_ID}  (config.yaml admins)" in listed
    assert "42  (database" in listed

    async with BotDriver(lambda: build_services(config, clock)) as driver:
        # At start the stored organiser gets the organiser menu in their chat.
        menus = [
            c
            for c in driver.standin.calls
            if c.method == "setMyCommands"
            and c.params.get("scope") == {"chat_id": 42, "type": "chat"}
        ]
        assert menus and "omroep" in [c["command"] for c in menus[-1].params["commands"]]
        calls = await driver.say(42, "/omroep")
        assert "Aan wie" in texts(calls)[0]
        await driver.press(42, "Iedereen")
        await driver.say(42, "Hallo van 42")
        await driver.press(42, "Overslaan")
        # Taken away mid-draft: the next button press is refused and nothing is sent.
        assert main(["--config", str(path), "admin", "remove", "42"]) == 0
        calls = await driver.press(42, "Versturen")
        assert any("alleen de organisatoren" in t for t in texts(calls))
        calls = await driver.say(42, "/omroep")
        assert "alleen de organisatoren" in texts(calls)[0]
        with driver.services.db.session() as session:
            assert session.scalars(select(Broadcast)).all() == []
    assert main(["--config", str(path), "admin", "remove", "42"]) == 1
    assert main(["--config", str(path), "admin", "remove", str(ADMIN_ID)]) == 1
    assert "config.yaml" in capsys.readouterr().err


FORGED = [
    callbacks.BROADCAST_AUDIENCE.data(audience=Recipients.EVERYONE),
    callbacks.BROADCAST_ACTIVITY.data(activity=1),
    callbacks.BROADCAST_SEND.data(),
    callbacks.BROADCAST_SKIP_ENGLISH.data(),
    callbacks.BROADCAST_EDIT_TEXT.data(),
    callbacks.BROADCAST_EDIT_AUDIENCE.data(),
    callbacks.BROADCAST_SCHEDULE.data(),
    callbacks.BROADCAST_ADD_SIGNUP.data(),
    callbacks.BROADCAST_SIGNUP.data(activity=1),
    callbacks.BROADCAST_RETRY.data(broadcast=1),
]


async def test_non_organiser_is_refused_everything(
    driver: BotDriver, caplog: pytest.LogCaptureFixture
) -> None:
    for command in ("/omroep", "/broadcast"):
        calls = await driver.say(1234, command)
        assert "alleen de organisatoren" in texts(calls)[0]
    with caplog.at_level(logging.WARNING):
        for data in FORGED:
            calls = await driver.press_data(1234, data)
            assert any("alleen de organisatoren" in t for t in texts(calls)), data
    assert "Organiser command refused" in caplog.text
    # Their menu holds no organiser commands.
    default_menus = [
        c
        for c in driver.standin.calls
        if c.method == "setMyCommands" and c.params.get("scope") == {"type": "default"}
    ]
    for menu in default_menus:
        assert "omroep" not in [c["command"] for c in menu.params["commands"]]
    with driver.services.db.session() as session:
        assert session.scalars(select(Broadcast)).all() == []
