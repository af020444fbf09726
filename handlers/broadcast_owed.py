"""The announcements a broadcast (handlers/broadcast.py, storage/broadcasts.py) owes each
recipient, and the organiser's view of how they went: a progress count while they go out
and the final report, with "send again to the failed ones", in one status message."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from telegram.error import BadRequest, TelegramError

from core import callbacks
from core.context import MaoContext, services_of
from core.keyboards import keyboard
from core.services import Services
from jobs.owed_kinds import Owed, OwedKind, Rendered
from storage.activities import ActivityInfo, get_activity_by_id
from storage.broadcasts import BroadcastInfo, finish_if_done, get_broadcast, unfinished_broadcasts
from storage.outbox import (
    DEFAULT_TRY_FOR,
    OutboxKind,
    OwedMessage,
    Priority,
    Tally,
    broadcast_tally,
    tried_for,
)
from storage.users import UserInfo, get_user
from storage.vocabulary import BroadcastStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Announcement:
    broadcast: BroadcastInfo
    signup_activity: ActivityInfo | None  # "Aanmelden" under it, while sign-up is open


def load_announcement(session: Session, owed: Owed, _services: Services) -> Announcement | None:
    broadcast_id = owed.message.broadcast_id
    broadcast = get_broadcast(session, broadcast_id) if broadcast_id is not None else None
    if broadcast is None:
        return None
    activity_id = broadcast.signup_activity_id
    activity = get_activity_by_id(session, activity_id) if activity_id is not None else None
    return Announcement(broadcast, activity)


def announcement(context: MaoContext, owed: Owed, data: Announcement) -> Rendered:
    """In the recipient's language, with "Aanmelden" while sign-up is open."""
    broadcast, activity = data.broadcast, data.signup_activity
    text = broadcast.text_en if context.language == "en" and broadcast.text_en else broadcast.text
    markup = None
    if activity is not None and activity.open_for_registration(owed.now):
        # Checked at send time: a scheduled announcement may go out after sign-up closed.
        button = (
            context.text("broadcast_signup_button"),
            callbacks.SIGNUP_PICK.data(activity=activity.id),
        )
        markup = keyboard([[button]])
    return Rendered(text=text, markup=markup)


def report_text(services: Services, language: str, result: Tally, finished: bool) -> str:
    catalogue = services.catalogue
    text = catalogue.text(
        language,
        "broadcast_report" if finished else "broadcast_progress",
        done=result.done,
        total=result.total,
        sent=result.sent,
        unconfirmed=result.unconfirmed,
        blocked=result.blocked,
        failed=result.failed,
    )
    if finished and result.unconfirmed:
        text += "\n" + catalogue.text(language, "broadcast_unconfirmed_explained")
    return text


def _broadcast_and_organiser(
    session: Session, broadcast_id: int
) -> tuple[BroadcastInfo | None, UserInfo | None]:
    info = get_broadcast(session, broadcast_id)
    return info, (get_user(session, info.created_by) if info else None)


class BroadcastReports:
    """The organiser's status message of each broadcast, kept up by the sender: a count
    every `broadcast.progress_every` messages, the report once all are done."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.services: Services = services_of(application)
        self.since_progress: dict[int, int] = {}
        # Progress and the final report edit one message: taken in turns, so that a progress
        # edit still on its way cannot cover the report (and its "send again" button).
        self.status_lock = asyncio.Lock()

    async def settled(self, message: OwedMessage) -> None:
        broadcast_id = message.broadcast_id
        if broadcast_id is None:
            return
        count = self.since_progress.get(broadcast_id, 0) + 1
        self.since_progress[broadcast_id] = count
        if count % self.services.config.broadcast.progress_every:
            return
        result = await self.services.db.run_reading(broadcast_tally, broadcast_id)
        await self.show(broadcast_id, result, finished=False)

    async def after_round(self) -> None:
        """Broadcasts with nothing left to send are done: the organiser gets the report."""
        services = self.services
        ids = await services.db.run_session(unfinished_broadcasts)
        for broadcast_id in ids:
            result = await services.db.run_session(finish_if_done, broadcast_id, services.now())
            if result is not None:
                self.since_progress.pop(broadcast_id, None)
                logger.info("Broadcast %s done: %s", broadcast_id, result)
                await self.show(broadcast_id, result, finished=True)

    async def show(self, broadcast_id: int, result: Tally, finished: bool) -> None:
        async with self.status_lock:
            await self._edit(broadcast_id, result, finished)

    async def _edit(self, broadcast_id: int, result: Tally, finished: bool) -> None:
        services = self.services
        info, organiser = await services.db.run_reading(_broadcast_and_organiser, broadcast_id)
        if info is None or info.status_chat_id is None or info.status_message_id is None:
            return
        if not finished and info.status == BroadcastStatus.DONE:
            return  # the final report is shown: a late progress count must not replace it
        language = (organiser.language if organiser else None) or services.catalogue.default
        text = report_text(services, language, result, finished)
        markup = None
        if finished and result.failed:
            again = (
                services.catalogue.text(language, "broadcast_retry_failed"),
                callbacks.BROADCAST_RETRY.data(broadcast=broadcast_id),
            )
            markup = keyboard([[again]])
        try:
            await self.application.bot.edit_message_text(
                text,
                chat_id=info.status_chat_id,
                message_id=info.status_message_id,
                reply_markup=markup,
            )
        except BadRequest:
            pass  # "not modified", or the organiser deleted it: progress is a courtesy
        except TelegramError as error:
            logger.warning("Could not update broadcast %s status: %s", broadcast_id, error)


OWED: tuple[OwedKind[Announcement], ...] = (
    # Nobody waits for it: after everything else; never at night unless the organiser chose.
    OwedKind(
        OutboxKind.BROADCAST,
        Priority.BULK,
        tried_for(DEFAULT_TRY_FOR),
        load_announcement,
        announcement,
        held_at_night=True,
        follow_up=BroadcastReports,
    ),
)
