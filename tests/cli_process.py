"""`mao-bot` commands in a process of their own, forked from one that imported the bot once.

A test of what a person sees from a command (its exit code, its one line on stderr, a token
never printed) needs a process of its own: logging, the environment and the exit are the
process's. Starting Python and importing the bot costs 1-2 s of CPU a command, over a minute
of the suite's; a fork server that has imported `bot.cli` once gives each command a fresh
process in milliseconds. Each command still gets its own environment, working directory,
stdin, stdout and stderr, and its exit code is the process's. What the fork skips, the start
of Python and the import of `bot.cli` from an installed script, is tested for real by the
tests that start `mao-bot` itself (tests/test_console_and_cli.py, test_scale.py, the
webhook and SIGKILL tests).
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import multiprocessing.spawn
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# In a forked command: whether the fork server had imported the bot before the fork (the
# point of it all), seen before this module imports it.
_FORKED_WITH_THE_BOT = "bot.cli" in sys.modules

import bot.cli  # noqa: E402  (imported once, in the fork server: see _CONTEXT)

_CONTEXT = multiprocessing.get_context("forkserver")
# The bot by its installed name: Python 3.11's fork server ignores the sys.path it is given, so
# this module (imported by pytest as `cli_process`, from tests/) is not found there, and each
# command would import the bot itself (1 s of CPU instead of 33 ms).
_CONTEXT.set_forkserver_preload(["bot.cli"])
_PROCESS_NAME = "mao-cli"
_preparation_data = multiprocessing.spawn.get_preparation_data


def _without_main(name: str) -> dict[str, Any]:
    """multiprocessing runs the parent's main script again in each child (pytest's, when not
    under xdist): a command needs nothing of it."""
    data: dict[str, Any] = _preparation_data(name)
    if name == _PROCESS_NAME:
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


multiprocessing.spawn.get_preparation_data = _without_main


def _child(argv: list[str], env: dict[str, str], cwd: str, stdin: str, out: str, err: str) -> None:
    """In the forked process: become `mao-bot argv` with these streams, then exit its way."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path, flags in (
        (0, stdin, os.O_RDONLY),
        (1, out, os.O_WRONLY | os.O_TRUNC),
        (2, err, os.O_WRONLY | os.O_TRUNC),
    ):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace"
    )
    code: int
    try:
        code = bot.cli.main(argv)
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _report_the_preload() -> None:
    os._exit(0 if _FORKED_WITH_THE_BOT else 3)


def forks_with_the_bot_imported() -> bool:
    """Whether a command's process starts with the bot already imported by the fork server."""
    process = _CONTEXT.Process(name=_PROCESS_NAME, target=_report_the_preload)
    process.start()
    process.join(60)
    return process.exitcode == 0


def run_cli(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str = ".",
    stdin: str = "",
    timeout: float = 120,
    stderr_into_stdout: bool = False,
) -> subprocess.CompletedProcess[str]:
    """As `subprocess.run(["mao-bot", *argv], capture_output=True, text=True, ...)`."""
    with tempfile.TemporaryDirectory(prefix="mao-cli-") as folder:
        streams = Path(folder)
        (streams / "stdin").write_text(stdin, encoding="utf-8")
        for name in ("stdout", "stderr"):
            (streams / name).touch()
        err = streams / ("stdout" if stderr_into_stdout else "stderr")
        process = _CONTEXT.Process(
            name=_PROCESS_NAME,
            target=_child,
            args=(
                list(argv),
                dict(os.environ if env is None else env),
                str(cwd),
                str(streams / "stdin"),
                str(streams / "stdout"),
                str(err),
            ),
        )
        process.start()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["mao-bot", *argv], timeout)
        stdout = (streams / "stdout").read_text(encoding="utf-8")
        stderr = "" if stderr_into_stdout else (streams / "stderr").read_text(encoding="utf-8")
        returncode = process.exitcode
        process.close()
    assert returncode is not None
    return subprocess.CompletedProcess(["mao-bot", *argv], returncode, stdout, stderr)
