"""Sending a broadcast: one message per recipient, resumable, within Telegram's limits.

The pace is set by PTB's AIORateLimiter (configured overall rate; it also waits out
RetryAfter). Messages go one at a time on purpose: with a single message in flight, a crash
can cause at most one duplicate. Blocked users are marked and skipped next time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, CallbackContext

from core.context import services_of
from core.i18n import Catalogue
from core.services import Services
from storage.broadcasts import (
    Counts,
    claim_next,
    counts,
    finish_broadcast,
    get_broadcast,
    mark_delivery,
    renew_lease,
    take_over,
    unfinished_broadcasts,
)
from storage.users import set_flags

logger = logging.getLogger(__name__)
RUNNING_KEY = "running_broadcasts"
SENDER_KEY = "broadcast_sender"


class Pace:
    """Evenly spaced sends. The rate limiter's bucket allows bursts of a full second's
    worth at once, which Telegram answers with 429; spacing the messages avoids that."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_at = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self.next_at:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + self.interval


def seconds_until_allowed(now_local: datetime, quiet: tuple[int, int] | None) -> float:
    """0 outside quiet hours; otherwise the wait until they end. (22, 8) spans midnight."""
    if quiet is None:
        return 0.0
    start, end = quiet
    hour = now_local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return 0.0
    end_time = now_local.replace(hour=end, minute=0, second=0, microsecond=0)
    if end_time <= now_local:
        end_time += timedelta(days=1)
    return (end_time - now_local).total_seconds()


def report_text(catalogue: Catalogue, language: str, result: Counts, finished: bool) -> str:
    key = "broadcast_report" if finished else "broadcast_progress"
    return catalogue.text(
        language,
        key,
        done=result.done,
        total=result.total,
        sent=result.sent,
        blocked=result.blocked,
        failed=result.failed,
    )


async def _update_status(
    application: Application[Any, Any, Any, Any, Any, Any],
    services: Services,
    broadcast_id: int,
    finished: bool,
) -> None:
    with services.db.session() as session:
        info = get_broadcast(session, broadcast_id)
        result = counts(session, broadcast_id)
    if info is None or info.status_chat_id is None or info.status_message_id is None:
        return
    text = report_text(services.catalogue, services.catalogue.default, result, finished)
    try:
        await application.bot.edit_message_text(
            text, chat_id=info.status_chat_id, message_id=info.status_message_id
        )
    except BadRequest:
        pass  # "message is not modified", or the organiser deleted it: progress is optional
    except TelegramError as error:
        logger.warning("Could not update broadcast %s status: %s", broadcast_id, error)


def sender_name(application: Application[Any, Any, Any, Any, Any, Any]) -> str:
    """This running bot's name in broadcast leases: host, process and a random tag."""
    name: str = application.bot_data.setdefault(
        SENDER_KEY, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    return name


async def run_broadcast(
    application: Application[Any, Any, Any, Any, Any, Any], broadcast_id: int
) -> Counts:
    services = services_of(application)
    running: set[int] = application.bot_data.setdefault(RUNNING_KEY, set())
    if broadcast_id in running:
        with services.db.session() as session:
            return counts(session, broadcast_id)
    running.add(broadcast_id)
    try:
        return await _send_all(application, services, broadcast_id)
    finally:
        running.discard(broadcast_id)


async def _send_all(
    application: Application[Any, Any, Any, Any, Any, Any], services: Services, broadcast_id: int
) -> Counts:
    sender = sender_name(application)
    lease = services.config.broadcast.lease
    with services.db.session() as session:
        info = get_broadcast(session, broadcast_id)
        released = take_over(session, broadcast_id, sender, services.now(), lease)
    assert info is not None
    if released is None:
        logger.info("Broadcast %s is being sent by another instance", broadcast_id)
        with services.db.session() as session:
            return counts(session, broadcast_id)
    if released:
        logger.warning(
            "Broadcast %s: %d message(s) may be sent twice after a crash", broadcast_id, released
        )
    progress_every = services.config.broadcast.progress_every
    sent_since_progress = 0
    finished: tuple[int, str] | None = None
    pace = Pace(services.config.broadcast.messages_per_second)
    while True:
        wait = seconds_until_allowed(
            services.now().astimezone(services.config.zone), services.config.broadcast.quiet_hours
        )
        with services.db.session() as session:
            if not renew_lease(session, broadcast_id, sender, services.now(), lease):
                logger.warning("Broadcast %s was taken over by another instance", broadcast_id)
                if finished is not None:
                    mark_delivery(session, *finished, services.now())
                return counts(session, broadcast_id)
            if wait > 0:
                if finished is not None:
                    mark_delivery(session, *finished, services.now())
                    finished = None
                claimed = None
            else:
                claimed = claim_next(session, broadcast_id, services.now(), finished)
                finished = None
        if wait > 0:
            # Quiet hours: wait in steps short enough to keep the lease.
            await asyncio.sleep(min(wait, lease.total_seconds() / 3))
            continue
        if claimed is None:
            break
        delivery_id, user_id = claimed
        await pace.wait()
        finished = (delivery_id, await _deliver(application, services, user_id, info.text))
        sent_since_progress += 1
        if sent_since_progress >= progress_every:
            sent_since_progress = 0
            await _update_status(application, services, broadcast_id, finished=False)
    with services.db.session() as session:
        finish_broadcast(session, broadcast_id, services.now())
        result = counts(session, broadcast_id)
    await _update_status(application, services, broadcast_id, finished=True)
    logger.info("Broadcast %s done: %s", broadcast_id, result)
    return result


async def _deliver(
    application: Application[Any, Any, Any, Any, Any, Any],
    services: Services,
    user_id: int,
    text: str,
) -> str:
    while True:
        try:
            await application.bot.send_message(user_id, text)
            return "sent"
        except RetryAfter as error:
            # The rate limiter already retried; Telegram still says wait. Then we wait.
            await asyncio.sleep(_seconds(error.retry_after))
        except Forbidden:
            with services.db.session() as session:
                set_flags(session, user_id, blocked=True)
            return "blocked"
        except TelegramError as error:
            logger.warning("Broadcast message not delivered: %s", error)
            return "failed"


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def resume_broadcasts_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Broadcasts nobody is sending (their sender crashed, its lease ran out) carry on here,
    skipping those already sent. Runs at start and then once per lease period."""
    application = context.application
    services = services_of(application)
    running: set[int] = application.bot_data.setdefault(RUNNING_KEY, set())
    with services.db.session() as session:
        ids = [i for i in unfinished_broadcasts(session) if i not in running]
    for broadcast_id in ids:
        application.create_task(
            run_broadcast(application, broadcast_id), name=f"broadcast-{broadcast_id}"
        )
