"""`mao-bot run` as a real process against the stand-in: polling and webhook mode."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from bot.offline.standin import BotApiStandIn

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_call(standin: BotApiStandIn, method: str, limit_seconds: float = 30) -> None:
    for _ in range(int(limit_seconds / 0.05)):
        if any(c.method == method for c in standin.calls):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no {method} call")


@pytest.mark.slow
async def test_webhook_mode_serves_updates_and_checks_the_secret(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"storage:\n  url: sqlite:///{tmp_path / 'hook.sqlite3'}\n"
        "activities:\n  file: null\n"
        "telegram:\n  mode: webhook\n"
        f"  webhook_url: http://127.0.0.1:{port}/telegram/hook\n"
        f"  webhook_listen: 127.0.0.1\n  webhook_port: {port}\n",
        encoding="utf-8",
    )
    standin = BotApiStandIn()
    await standin.start()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{standin.port}",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret-token-0123456789",
        "MAO_CONFIG": str(config),
    }
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
        await wait_for_call(standin, "setWebhook")
        hook = next(c for c in standin.calls if c.method == "setWebhook")
        assert hook.params["url"] == f"http://127.0.0.1:{port}/telegram/hook"
        assert hook.params["secret_token"] == "s3cret-token-0123456789"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "/start",
                "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "Web", "language_code": "nl"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }

        def post(secret: str) -> int:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/telegram/hook",
                data=json.dumps(update).encode(),
                headers={
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": secret,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return int(error.code)

        for _ in range(100):  # the server starts listening just after setWebhook
            try:
                assert await asyncio.to_thread(post, "wrong") == 403
                break
            except (ConnectionError, urllib.error.URLError):
                await asyncio.sleep(0.1)
        assert await asyncio.to_thread(post, "s3cret-token-0123456789") == 200
        await wait_for_call(standin, "sendMessage")
        greeting = next(c for c in standin.calls if c.method == "sendMessage")
        assert greeting.params["chat_id"] == 42
        assert str(greeting.params["text"]).startswith("Hoi Web!")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        await standin.stop()
    assert standin.token not in stderr.decode()
