"""The reminder acceptance scenario at full length, with real processes.

An activity starts in 3 minutes, with a 2-minute reminder; three attendees. `mao-bot run`
runs against the Bot API stand-in, is killed (SIGKILL) after 30 seconds and started again.
Prints how many reminders each attendee received (goal: exactly 1).

    python benchmarks/reminder_restart.py [--lead 180] [--offset 120] [--kill-after 30]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import register_owed_kinds
from bot.offline.driver import spawn_bot_process
from bot.offline.standin import BotApiStandIn
from storage.activities import ActivitySpec, get_activity, upsert_activities
from storage.db import Database
from storage.registrations import SignupDetails, register
from storage.users import touch_user
from storage.vocabulary import Role

ROOT = Path(__file__).resolve().parents[1]
ATTENDEES = (501, 502, 503)


async def scenario(lead: int, offset: int, kill_after: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/reminders.sqlite3"
        config_file = Path(folder) / "config.yaml"
        config_file.write_text(
            f"storage:\n  url: {url}\nactivities:\n  file: null\n"
            f"reminders:\n  offsets: ['{offset}s']\n",
            encoding="utf-8",
        )
        register_owed_kinds()  # messages are owed through storage directly
        db = Database(url)
        db.upgrade()
        now = datetime.now(UTC)
        starts = now + timedelta(seconds=lead)
        spec = ActivitySpec.model_validate(
            {
                "slug": "over-drie-minuten",
                "kind": "dialoog",
                "title": {"nl": "Dialoog over drie minuten", "en": "Dialogue in three minutes"},
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=1),
                "location": "Online",
                "reminders": [f"{offset}s"],
            }
        )
        with db.session() as session:
            upsert_activities(session, (spec,), ZoneInfo("Europe/Amsterdam"), now)
            activity = get_activity(session, spec.slug)
            assert activity is not None
            details = SignupDetails("Deelnemer", Role.OUDER, None, None, None)
            for user in ATTENDEES:
                touch_user(session, user, now)
                register(session, activity.id, user, details, now, join_waitlist=True)
        standin = BotApiStandIn()
        await standin.start()
        first = await spawn_bot_process(config_file, standin)
        await asyncio.sleep(kill_after)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        print(f"killed the bot after {kill_after}s; reminders so far: {count(standin)}")
        second = await spawn_bot_process(config_file, standin)
        due_in = (starts - timedelta(seconds=offset) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, due_in) + 10)
        second.send_signal(signal.SIGTERM)
        await second.wait()
        await standin.stop()
        print(f"reminders per attendee: {dict(count(standin))} (goal: exactly 1 each)")


def count(standin: BotApiStandIn) -> Counter[int]:
    return Counter(
        c.chat_id or 0
        for c in standin.calls
        if c.method == "sendMessage" and "Herinnering" in str(c.params.get("text"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lead", type=int, default=180)
    parser.add_argument("--offset", type=int, default=120)
    parser.add_argument("--kill-after", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(scenario(args.lead, args.offset, args.kill_after))


if __name__ == "__main__":
    main()
