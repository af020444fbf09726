"""Who is an organiser, and the one gate in front of every organiser handler.

An organiser is in config's `admins`, or was added with `mao-bot admin add`. Every organiser
command and button is registered behind `organisers_only` (tests/test_organiser_gate.py
proves it for every handler bot/app.py registers): the role is checked again for every
update, buttons included, because callback data is never trusted for authorisation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, cast

from sqlalchemy.orm import Session
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ConversationHandler

from core.context import MaoContext
from core.services import Services
from storage.db import is_outage
from storage.organisers import is_stored_organiser, stored_organisers
from storage.users import get_user

logger = logging.getLogger(__name__)
GATED = "organisers_only"
Callback = TypeVar("Callback", bound=Callable[[Update, MaoContext], Awaitable[Any]])


def is_organiser(services: Services, telegram_id: int) -> bool:
    """Synchronous: never on the event loop (use `check_organiser` there)."""
    if services.config.is_admin(telegram_id):
        return True
    with services.db.session() as session:
        return is_stored_organiser(session, telegram_id)


async def check_organiser(services: Services, telegram_id: int) -> bool:
    """Whether they are an organiser, through the database seam. While the database is away
    this raises (an outage): a wrong "no" would take an organiser's tools away."""
    if services.config.is_admin(telegram_id):
        return True
    return await services.db.run_reading(is_stored_organiser, telegram_id)


async def may_be_organiser(services: Services, telegram_id: int) -> bool:
    """For what only adds to an answer (the organisers' part of /help): through the
    database seam, and False while the database is away."""
    if services.config.is_admin(telegram_id):
        return True
    return await services.db.read_or(False, is_stored_organiser, telegram_id)


def organiser_languages(session: Session, admins: Iterable[int], default: str) -> dict[int, str]:
    """Every organiser (config's and the stored ones), each with the language they chose."""
    organisers = sorted({*admins, *stored_organisers(session)})
    languages: dict[int, str] = {}
    for organiser in organisers:
        user = get_user(session, organiser)
        languages[organiser] = (user.language if user else None) or default
    return languages


def organisers_only(callback: Callback) -> Callback:
    """The gate: `callback` runs only for an organiser. Anyone else hears the friendly
    refusal; during a database outage a stored organiser hears that the role cannot be
    checked now, and nothing happens. A refused update ends an organiser conversation."""

    @wraps(callback)
    async def gated(update: Update, context: MaoContext) -> Any:
        if await _admitted(update, context):
            return await callback(update, context)
        return ConversationHandler.END

    setattr(gated, GATED, True)
    return cast(Callback, gated)


def is_gated(callback: object) -> bool:
    return getattr(callback, GATED, False) is True


async def _admitted(update: Update, context: MaoContext) -> bool:
    user = update.effective_user
    if user is None:
        return False
    try:
        if await check_organiser(context.services, user.id):
            return True
    except Exception as error:
        if not is_outage(error):
            raise
        logger.warning("Organiser check for user %s impossible: the database is away", user.id)
        await _answer(update, context, "organiser_check_away")
        return False
    logger.warning("Organiser command refused for user %s", user.id)
    await _answer(update, context, "admin_only")
    return False


async def _answer(update: Update, context: MaoContext, key: str) -> None:
    """A message in a private chat; in the organisers' group (its copies' buttons) only a
    pop-up for whoever pressed, so the group is not filled with refusals."""
    text = context.text(key)
    chat = update.effective_chat
    query = update.callback_query
    private = chat is not None and chat.type == ChatType.PRIVATE
    if query is not None:
        await query.answer(None if private else text, show_alert=not private)
    if chat is not None and (private or query is None):
        await context.bot.send_message(chat.id, text)
