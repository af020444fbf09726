"""The fork server behind tests/cli_process.py: the saving it exists for must hold, silently
losing it made each `mao-bot` command in the suite import the bot again (1 s of CPU each)."""

from __future__ import annotations

from cli_process import forks_with_the_bot_imported, run_cli


def test_a_command_process_starts_with_the_bot_imported() -> None:
    assert forks_with_the_bot_imported()


def test_a_command_still_runs_as_mao_bot() -> None:
    shown = run_cli(["--help"])
    assert shown.returncode == 0
    assert "console" in shown.stdout
