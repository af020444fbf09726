"""Owed messages under a fault mix: nothing lost, few duplicates, every outcome counted.

    python benchmarks/delivery_faults.py [--seconds 120] [--seed 7]

Runs the real Application against the Bot API stand-in, which fails on purpose: every 7th
send answers 500, every 11th resets the connection, every 23rd times out after delivering,
every 31st times out without delivering, and every 50th starts a 429 storm of 3. Meanwhile
people sign up (confirmation, calendar file, reminders), give up seats (promotions),
activities move and are cancelled, and organisers broadcast; the bot is restarted every 30
seconds. The bot's clock runs 60 times faster than the wall clock, so retries and reminders
fall due within the run. At the end the faults stop, the outbox drains, and the totals print.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bot.config import load_config
from bot.offline.driver import BotDriver
from bot.offline.standin import BotApiStandIn, Fault
from bot.services import build_services
from storage.activities import ActivitySpec, get_activity, upsert_activities
from storage.broadcasts import create_broadcast
from storage.models import OutboxMessage, Registration
from storage.registrations import SignupDetails, cancel_registration, register
from storage.users import touch_user
from storage.vocabulary import Recipients, Role

ROOT = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("Europe/Amsterdam")
SPEED = 60.0
PERSON = SignupDetails("Deelnemer", Role.OUDER, None, None, None)


class FastClock:
    def __init__(self) -> None:
        self.start_wall = time.monotonic()
        self.start = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.start_wall) * SPEED)


def faults() -> list[Fault]:
    return [
        Fault.server_error(status=500, every=7),
        Fault.reset(every=11),
        Fault.timeout(delivered=True, seconds=1.0, every=23),
        Fault.timeout(delivered=False, seconds=1.0, every=31),
        Fault.storm(retry_after=1, every=50),
    ]


def spec(slug: str, starts: datetime, status: str = "published") -> ActivitySpec:
    return ActivitySpec.model_validate(
        {
            "slug": slug,
            "kind": "dialoog",
            "title": {"nl": f"Dialoog {slug}", "en": f"Dialogue {slug}"},
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "location": "Utrecht",
            "capacity": 8,
            "reminders": ["3h", "1h"],
            "status": status,
        }
    )


async def run(seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    clock = FastClock()
    with tempfile.TemporaryDirectory() as folder:
        base = load_config(ROOT / "config.yaml", environ={})
        config = base.model_copy(
            update={
                "storage": base.storage.model_copy(update={"url": f"sqlite:///{folder}/f.db"}),
                "activities": base.activities.model_copy(update={"file": None}),
                # Its clock runs x60 through nights: no quiet hours holding announcements.
                "broadcast": base.broadcast.model_copy(
                    update={"messages_per_second": 200.0, "quiet_hours": None}
                ),
                "telegram": base.telegram.model_copy(update={"read_timeout": 0.5}),
            }
        )
        standin = BotApiStandIn()
        async with BotDriver(lambda: build_services(config, clock), standin) as driver:
            db = driver.services.db
            starts = {f"a{n}": clock() + timedelta(hours=6 + 2 * n) for n in range(6)}
            with db.session() as session:
                upsert_activities(
                    session, tuple(spec(s, t) for s, t in starts.items()), ZONE, clock()
                )
                for user in range(1000, 1400):
                    touch_user(session, user, clock())
            for fault in faults():
                standin.inject(fault)
            actions: Counter[str] = Counter()
            ends = time.monotonic() + seconds
            next_restart = time.monotonic() + 30
            while time.monotonic() < ends:
                await asyncio.sleep(0.2)
                action = rng.choices(
                    ["signup", "cancel", "move", "broadcast", "toggle"], [60, 20, 3, 2, 1]
                )[0]
                slug = rng.choice(list(starts))
                with db.session() as session:
                    activity = get_activity(session, slug)
                    assert activity is not None
                    if action == "signup":
                        user = rng.randrange(1000, 1400)
                        register(session, activity.id, user, PERSON, clock(), join_waitlist=True)
                    elif action == "cancel":
                        row = session.scalars(
                            select(Registration)
                            .where(Registration.status.in_(("registered", "waiting")))
                            .order_by(func.random())
                            .limit(1)
                        ).first()
                        if row is not None:
                            cancel_registration(session, row.id, row.user_id, clock())
                    elif action == "move":
                        starts[slug] = starts[slug] + timedelta(hours=1)
                        upsert_activities(session, (spec(slug, starts[slug]),), ZONE, clock())
                    elif action == "broadcast":
                        create_broadcast(
                            session,
                            1,
                            Recipients.EVERYONE,
                            None,
                            f"Nieuws {rng.random()}",
                            clock(),
                        )
                    else:
                        upsert_activities(
                            session, (spec(slug, starts[slug], "cancelled"),), ZONE, clock()
                        )
                actions[action] += 1
                assert driver.application is not None
                from jobs.outbox import outbox_of

                outbox_of(driver.application).kick()
                if time.monotonic() > next_restart:
                    await driver.restart()
                    actions["restart"] += 1
                    next_restart = time.monotonic() + 30
            standin.clear_faults()
            drain_until = time.monotonic() + 120
            while time.monotonic() < drain_until:
                with db.session() as session:
                    open_rows = session.scalar(
                        select(func.count()).where(
                            OutboxMessage.status.in_(("pending", "sending")),
                            OutboxMessage.due_at <= clock() + timedelta(minutes=15),
                        )
                    )
                if not open_rows:
                    break
                await asyncio.sleep(0.5)
            with db.session() as session:
                statuses = dict(
                    session.execute(
                        select(OutboxMessage.status, func.count())
                        .where(OutboxMessage.due_at <= clock())
                        .group_by(OutboxMessage.status)
                    ).all()
                )
            delivered_calls = len(standin.delivered())
            injected = dict(standin.fault_counts)
    owed = sum(v for k, v in statuses.items() if k != "dropped")
    confirmed = statuses.get("sent", 0)
    unconfirmed = statuses.get("unconfirmed", 0)
    lost = statuses.get("failed", 0) + statuses.get("pending", 0) + statuses.get("sending", 0)
    # Unconfirmed rows were delivered (timeout after delivery) or not (timeout before): the
    # bot cannot tell which; the stand-in can.
    surplus = delivered_calls - confirmed - unconfirmed
    duplicates = max(0, surplus)
    timed_out_undelivered = max(0, -surplus)
    print(
        f"run:                   {seconds:.0f} s wall clock, bot clock x{SPEED:.0f}, seed {seed}"
    )
    print(f"actions:               {dict(actions)}")
    print(f"faults injected:       {injected}")
    print(f"owed (not withdrawn):  {owed}")
    print(f"delivered, confirmed:  {confirmed}")
    print(f"unconfirmed (timeout): {unconfirmed}, of which not delivered: {timed_out_undelivered}")
    print(f"withdrawn (no longer owed): {statuses.get('dropped', 0)}")
    print(f"blocked:               {statuses.get('blocked', 0)}")
    print(f"lost (failed or open): {lost}")
    print(f"duplicates:            {duplicates}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.seed))


if __name__ == "__main__":
    main()
