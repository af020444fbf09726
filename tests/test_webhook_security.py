"""The webhook is never open: no start without a secret, the secret never logged, no body
larger than 1 MB read into memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_process import run_cli
from telegram.ext import ApplicationBuilder

from bot.offline.standin import BotApiStandIn
from bot.webhook import SECRET_HEADER, WebhookServer
from storage.db import Database

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Webhook-Secret_0123456789abcdef"
MAX_BODY_BYTES = 1024 * 1024  # the limit README promises
MAKE_ONE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"storage:\n  url: sqlite:///{tmp_path / 'hook.sqlite3'}\n"
        "activities:\n  file: null\n"
        "telegram:\n  mode: webhook\n"
        f"  webhook_url: http://127.0.0.1:{port}/telegram/hook\n"
        f"  webhook_listen: 127.0.0.1\n  webhook_port: {port}\n",
        encoding="utf-8",
    )
    return config


def environment(config: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MAO_", "TELEGRAM_")) and key != "DATABASE_URL"
    }
    env.update({"MAO_CONFIG": str(config), "TELEGRAM_BOT_TOKEN": "123456:NotUsedHere"})
    env.update(overrides)
    return env


async def mao_bot(env: dict[str, str], *args: str) -> tuple[int, str]:
    """The command in a process of its own (tests/cli_process.py), its stderr and stdout in
    one."""
    done = await asyncio.to_thread(
        run_cli, args, env=env, cwd=ROOT, timeout=60, stderr_into_stdout=True
    )
    return done.returncode, done.stdout


@pytest.mark.parametrize(
    ("command", "secret", "problem"),
    [
        ("run", None, "is not set"),
        ("run", "short", "16-256 characters"),
        ("check-config", None, "is not set"),
        ("check-config", "with spaces and !-marks Telegram refuses", "16-256 characters"),
        ("check-config", "x" * 257, "16-256 characters"),
    ],
)
async def test_webhook_mode_without_a_good_secret_does_not_start(
    tmp_path: Path, command: str, secret: str | None, problem: str
) -> None:
    # Telegram is unreachable: a bot that went ahead would fail later, and differently.
    unreachable = f"http://127.0.0.1:{free_port()}"
    extra = {"TELEGRAM_BASE_URL": unreachable}
    if secret is not None:
        extra["TELEGRAM_WEBHOOK_SECRET"] = secret
    env = environment(webhook_config(tmp_path, free_port()), **extra)
    code, output = await mao_bot(env, command)
    assert code == 1
    [line] = [line for line in output.splitlines() if "TELEGRAM_WEBHOOK_SECRET" in line]
    assert problem in line and MAKE_ONE in line
    assert "Traceback" not in output
    if secret is not None and len(secret) > 5:
        assert secret not in output


async def test_check_config_accepts_a_good_secret(tmp_path: Path) -> None:
    env = environment(webhook_config(tmp_path, free_port()), TELEGRAM_WEBHOOK_SECRET=SECRET)
    code, output = await mao_bot(env, "check-config")
    assert code == 0, output
    assert SECRET not in output


@pytest.mark.slow
async def test_the_secret_reaches_set_webhook_and_never_the_log(tmp_path: Path) -> None:
    """Even with the libraries at DEBUG, where PTB logs setWebhook's parameters."""
    port = free_port()
    standin = BotApiStandIn()
    await standin.start()
    env = environment(
        webhook_config(tmp_path, port),
        TELEGRAM_BOT_TOKEN=standin.token,
        TELEGRAM_BASE_URL=f"http://127.0.0.1:{standin.port}",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        MAO_LOG_LEVEL="DEBUG",
        MAO_LOG_LIBRARIES="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(600):
            if any(c.method == "setWebhook" for c in standin.calls):
                break
            await asyncio.sleep(0.05)
        [hook] = [c for c in standin.calls if c.method == "setWebhook"]
        assert hook.params["secret_token"] == SECRET
        await asyncio.sleep(0.3)  # the log line of setWebhook's answer
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        await standin.stop()
    log = stderr.decode()
    assert "setWebhook" in log  # the libraries really logged the call
    assert SECRET not in log
    assert standin.token not in log


# -- bodies over 1 MB are refused before they are read ----------------------------------------


def post_raw(port: int, headers: dict[str, str], body: bytes, declared: int) -> tuple[str, float]:
    """Sends the headers (Content-Length `declared`) and then `body` as long as the server
    reads it; returns the status line (or how the connection ended) and the seconds taken."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        head = f"POST /telegram/hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {declared}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        connection.sendall(head.encode())
        # The server may close the connection: it did not read the body.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(body)
        try:
            answer = connection.recv(200).decode(errors="replace")
        except ConnectionResetError:
            answer = "reset"
    return answer.split("\r\n", 1)[0], time.perf_counter() - started


@pytest.fixture
async def server() -> AsyncIterator[WebhookServer]:
    application = ApplicationBuilder().token("123456:UNUSED").build()
    database = Database("sqlite://")
    instance = WebhookServer(
        application,
        database,
        listen="127.0.0.1",
        port=0,
        path="/telegram/hook",
        secret_token=SECRET,
    )
    await instance.start()
    yield instance
    await instance.stop()
    database.dispose()


async def test_a_large_body_is_refused_before_it_is_read(server: WebhookServer) -> None:
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    # 8 MB offered of a declared 95 MB: a server that reads it takes all 8 MB first.
    offered = b"x" * (8 * 1024 * 1024)
    status, _ = await asyncio.to_thread(post_raw, server.port, headers, offered, 95 * 1024 * 1024)
    assert status in ("HTTP/1.1 400 Bad Request", "reset", ""), status
    # Just over the limit: refused as well; an update of normal size still goes through.
    status, _ = await asyncio.to_thread(
        post_raw, server.port, headers, b"x" * (MAX_BODY_BYTES + 1), MAX_BODY_BYTES + 1
    )
    assert not status.startswith("HTTP/1.1 2"), status
    update = json.dumps({"update_id": 7}).encode()
    status, _ = await asyncio.to_thread(post_raw, server.port, headers, update, len(update))
    assert status == "HTTP/1.1 200 OK"


def test_every_server_needs_a_secret() -> None:
    application = ApplicationBuilder().token("123456:UNUSED").build()
    with pytest.raises(ValueError, match="secret"):
        WebhookServer(
            application,
            Database("sqlite://"),
            listen="127.0.0.1",
            port=0,
            path="/telegram/hook",
            secret_token="",
        )
