"""Reminders on the scheduler: PTB's JobQueue (APScheduler) fires what the database planned.

Every planned row gets a one-off job with a deterministic id, so planning twice replaces
instead of duplicating. At start everything is planned again from the database; a reminder
that fell due while the bot was down fires at once (and is skipped by claim_reminder when
the activity has already begun). A sweep every minute catches plans made elsewhere (the
command line, another instance).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackContext, JobQueue

from core import callbacks
from core.activity_text import describe
from core.context import MaoContext, services_of
from core.keyboards import keyboard
from storage.reminders import (
    claim_reminder,
    mark_reminder,
    planned_reminders,
    sync_reminders,
    unplanned_ids,
)
from storage.users import get_user, set_flags

logger = logging.getLogger(__name__)
JOB_PREFIX = "reminder:"


def _job_id(name: str) -> int:
    return int(name.removeprefix(JOB_PREFIX))


def refresh_reminders(
    application: Application[Any, Any, Any, Any, Any, Any], activity_id: int | None = None
) -> int:
    """Reconcile the plan in the database, then make the job queue follow it."""
    services = services_of(application)
    job_queue: JobQueue[Any] | None = application.job_queue
    assert job_queue is not None
    now: datetime = services.now()
    with services.db.session() as session:
        sync_reminders(session, list(services.config.reminders.offsets), now, activity_id)
        planned = planned_reminders(session, activity_id)
        scheduled_ids = [
            _job_id(job.name)
            for job in job_queue.jobs()
            if job.name and job.name.startswith(JOB_PREFIX)
        ]
        stale = set(unplanned_ids(session, scheduled_ids))
    for job in job_queue.jobs():
        if job.name and job.name.startswith(JOB_PREFIX) and _job_id(job.name) in stale:
            job.schedule_removal()
    grace = int(services.config.reminders.misfire_grace.total_seconds())
    for reminder in planned:
        name = f"{JOB_PREFIX}{reminder.id}"
        # The JobQueue runs on real time; the injected clock only decides what is due.
        delay = max(0.0, (reminder.due_at - now).total_seconds())
        job_queue.run_once(
            send_reminder,
            when=delay,
            data=reminder.id,
            name=name,
            job_kwargs={
                "id": name,
                "replace_existing": True,
                # A reminder late by less than the grace still helps; older ones are dropped
                # by APScheduler and then caught (and judged) by the next sweep.
                "misfire_grace_time": grace,
                # Several missed runs of one reminder collapse into one.
                "coalesce": True,
            },
        )
    return len(planned)


async def send_reminder(context: CallbackContext[Any, Any, Any, Any]) -> None:
    assert isinstance(context, MaoContext) and context.job is not None
    reminder_id = context.job.data
    assert isinstance(reminder_id, int)
    services = context.services
    with services.db.session() as session:
        reminder = claim_reminder(session, reminder_id, services.now())
    if reminder is None:
        return
    with services.db.session() as session:
        user = get_user(session, reminder.user_id)
    context.cached_language = (user.language if user else None) or services.catalogue.default
    text = (
        context.text("reminder_text")
        + "\n\n"
        + describe(reminder.activity, context, with_seats=False)
    )
    markup = keyboard(
        [
            [
                (
                    context.text("reminder_coming"),
                    callbacks.REMINDER_COMING.data(registration=reminder.registration_id),
                ),
                (
                    context.text("mine_cancel"),
                    callbacks.MINE_CANCEL.data(registration=reminder.registration_id),
                ),
            ]
        ]
    )
    status = "sent"
    try:
        await context.bot.send_message(reminder.user_id, text, reply_markup=markup)
    except Forbidden:
        status = "blocked"
        with services.db.session() as session:
            set_flags(session, reminder.user_id, blocked=True)
    except TelegramError as error:
        status = "failed"
        logger.warning("Reminder %s not delivered: %s", reminder_id, error)
    with services.db.session() as session:
        mark_reminder(session, reminder_id, status, services.now())


async def sweep_reminders(context: CallbackContext[Any, Any, Any, Any]) -> None:
    refresh_reminders(context.application)
