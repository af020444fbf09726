"""Delivering the notice outbox (promotions, offers, cancellations) and expiring offers.

Runs as a repeating JobQueue job, and right after a user action that frees a seat, so the
next person hears at once. Notices are claimed in the database before sending: a crash can
lose one, but never send one twice.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.error import Forbidden, TelegramError
from telegram.ext import CallbackContext

from core.activity_text import describe, moment
from core.context import MaoContext
from core.keyboards import keyboard, offer_buttons
from jobs.reminders import refresh_reminders
from storage.registrations import NoticeInfo, claim_notices, expire_offers
from storage.users import get_user, set_flags

logger = logging.getLogger(__name__)


def _notice_text(notice: NoticeInfo, context: MaoContext) -> tuple[str, Any]:
    activity_block = describe(notice.activity, context, with_seats=False)
    rid = notice.registration_id
    if notice.kind == "offered" and notice.offer_expires_at is not None and rid is not None:
        text = context.text("notice_offered", deadline=moment(notice.offer_expires_at, context))
        markup = keyboard(offer_buttons(rid, context))
        return f"{text}\n\n{activity_block}", markup
    key = {
        "promoted": "notice_promoted",
        "offer_expired": "notice_offer_expired",
        "activity_cancelled": "notice_cancelled",
    }.get(notice.kind, "notice_cancelled")
    return f"{context.text(key)}\n\n{activity_block}", None


async def deliver_notices(context: CallbackContext[Any, Any, Any, Any]) -> int:
    assert isinstance(context, MaoContext)
    own_language = context.cached_language
    try:
        return await _deliver(context)
    finally:
        context.cached_language = own_language


async def _deliver(context: MaoContext) -> int:
    services = context.services
    sent = 0
    while True:
        with services.db.session() as session:
            notices = claim_notices(session, services.now(), limit=50)
        if not notices:
            return sent
        for notice in notices:
            with services.db.session() as session:
                user = get_user(session, notice.user_id)
            context.cached_language = (
                user.language if user else None
            ) or services.catalogue.default
            text, markup = _notice_text(notice, context)
            try:
                await context.bot.send_message(notice.user_id, text, reply_markup=markup)
                sent += 1
            except Forbidden:
                with services.db.session() as session:
                    set_flags(session, notice.user_id, blocked=True)
            except TelegramError as error:
                logger.warning("Notice %s not delivered: %s", notice.id, error)


async def expire_offers_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    assert isinstance(context, MaoContext)
    services = context.services
    with services.db.session() as session:
        expired = expire_offers(session, services.now())
    if expired:
        logger.info("%d seat offers expired", len(expired))
        refresh_reminders(context.application)
    await deliver_notices(context)
