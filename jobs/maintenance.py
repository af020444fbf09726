"""Housekeeping on the scheduler: lapsed seat offers, and the retention of personal data.

Through the database seam (storage/db.py), never on the event loop; while the database is
away a run fails, is logged, and the next run does the work."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram.ext import CallbackContext

from core.context import MaoContext
from core.pending_questions import PENDING_KEY, drop_stale
from storage.inbox import purge_old_threads
from storage.persistence_store import prune_user_data
from storage.privacy import apply_retention
from storage.registrations import expire_offers

logger = logging.getLogger(__name__)


async def expire_offers_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """An offer not claimed in time passes to the next person waiting (who is told)."""
    assert isinstance(context, MaoContext)
    services = context.services
    expired = await services.db.run_session(expire_offers, services.now())
    if expired:
        # Whoever moved up is told: the commit woke the outbox.
        logger.info("%d seat offers expired", len(expired))


async def retention_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    assert isinstance(context, MaoContext)
    services = context.services
    privacy_config = services.config.privacy
    registrations, misses = await services.db.run_session(
        apply_retention,
        services.now(),
        timedelta(days=privacy_config.keep_registrations_days),
        timedelta(days=privacy_config.keep_faq_misses_days),
    )
    logger.info("Retention: %d registrations and %d questions deleted", registrations, misses)
    # Conversations with the programme office, `inbox.retention` after their last message.
    threads = await services.db.run_session(
        purge_old_threads, services.config.inbox.retention, services.now()
    )
    if threads:
        logger.info("Retention: %d inbox threads deleted", threads)
    # Questions kept for the buttons under their answers (in the persisted user data).
    now = services.now()
    for data in context.application.user_data.values():
        drop_stale(data, now)  # this process's copies; the table below is what is kept
    # Everyone's, also of people this process has not seen since.
    dropped = await services.db.run_session(
        prune_user_data, PENDING_KEY, lambda data: drop_stale(data, now)
    )
    if dropped:
        logger.info("Retention: %d kept questions dropped", dropped)
