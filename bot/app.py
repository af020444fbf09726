"""The composition root: build_application(services) -> Application, handlers in one place."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.persistence import SqlPersistence
from core.context import SERVICES_KEY, MaoContext, services_of
from core.services import Services
from handlers import agenda, basics, broadcast, errors, faq, mine, privacy, reminders, signup
from handlers.menus import register_command_menus
from jobs.broadcasting import resume_broadcasts_job
from jobs.notices import deliver_notices, expire_offers_job
from jobs.reminders import refresh_reminders, sweep_reminders
from storage.activities import read_activity_file, upsert_activities
from storage.db import safe_url
from storage.privacy import apply_retention

logger = logging.getLogger(__name__)

MaoApplication = Application[Any, MaoContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


def prepare_storage(services: Services) -> None:
    """Migrate the database (persistence reads it during initialize) and load activities."""
    services.db.upgrade()
    logger.info("Database ready (%s)", safe_url(services.db.url))
    activity_file = services.config.activities.file
    if activity_file is not None and activity_file.exists():
        specs = read_activity_file(activity_file).activities
        with services.db.session() as session:
            report = upsert_activities(session, specs, services.config.zone, services.now())
        logger.info(
            "Activities loaded: %d new, %d updated, %d unchanged",
            len(report.created),
            len(report.updated),
            len(report.unchanged),
        )


async def persist_now(update: Update, context: MaoContext) -> None:
    """Write conversation state after every update, so a crash mid-sign-up loses nothing."""
    await context.application.update_persistence()


def register_handlers(application: MaoApplication, services: Services) -> None:
    # Group -1 runs first for every update: it records the user and fixes their language.
    application.add_handler(basics.build_tracking_handler(), group=-1)
    # Group 0, first match wins, so order matters. The sign-up conversation comes first: it
    # owns "/start signup_<slug>" deep links and the text typed during the flow.
    # Organiser conversation before sign-up: both answer /annuleer, and sign-up also has a
    # catch-all "nothing to cancel" that must not swallow the organiser's.
    application.add_handlers(broadcast.build_handlers())
    application.add_handlers(signup.build_handlers(services.config.signup.timeout))
    application.add_handlers(basics.build_handlers())
    application.add_handlers(agenda.build_handlers())
    application.add_handlers(mine.build_handlers())
    application.add_handlers(reminders.build_handlers())
    application.add_handlers(privacy.build_handlers())
    # Free text is a question for the FAQ, after every command and button above.
    application.add_handlers(faq.build_handlers())
    # Catch-alls: unknown commands, non-text messages, stale buttons.
    application.add_handlers(basics.build_fallback_handlers())
    application.add_handler(TypeHandler(Update, persist_now), group=100)
    application.add_error_handler(errors.handle_error)


async def retention_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    assert isinstance(context, MaoContext)
    services = context.services
    privacy_config = services.config.privacy
    with services.db.session() as session:
        registrations, misses = apply_retention(
            session,
            services.now(),
            timedelta(days=privacy_config.keep_registrations_days),
            timedelta(days=privacy_config.keep_faq_misses_days),
        )
    logger.info("Retention: %d registrations and %d questions deleted", registrations, misses)


def schedule_jobs(application: MaoApplication) -> None:
    job_queue = application.job_queue
    assert job_queue is not None
    # Names are fixed so a restart replaces rather than duplicates; the database holds the
    # truth, so these only need to look regularly.
    job_queue.run_repeating(deliver_notices, interval=15, first=1, name="notices")
    job_queue.run_repeating(expire_offers_job, interval=60, first=5, name="offer-expiry")
    job_queue.run_repeating(sweep_reminders, interval=60, first=60, name="reminder-sweep")
    job_queue.run_repeating(retention_job, interval=timedelta(days=1), first=60, name="retention")


async def _post_init(application: MaoApplication) -> None:
    services = services_of(application)
    await register_command_menus(application.bot, services)
    schedule_jobs(application)
    planned = refresh_reminders(application)
    logger.info("%d reminders planned", planned)
    # Broadcasts interrupted by a crash continue once the application is running.
    assert application.job_queue is not None
    lease = services.config.broadcast.lease.total_seconds()
    application.job_queue.run_repeating(
        resume_broadcasts_job, interval=lease, first=0.5, name="broadcast-resume"
    )


async def _post_shutdown(application: MaoApplication) -> None:
    services = services_of(application)
    services.db.dispose()


def build_application(
    services: Services,
    token: str,
    *,
    application_class: type[Application[Any, Any, Any, Any, Any, Any]] = Application,
) -> MaoApplication:
    config = services.config
    application: MaoApplication = (
        ApplicationBuilder()
        .application_class(application_class)
        .token(token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.base_file_url)
        .context_types(ContextTypes(context=MaoContext))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                tzinfo=config.zone,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(
            # Telegram allows ~30 messages/s overall and 1/s per chat; RetryAfter answers
            # are waited out and retried here, so callers rarely see them.
            AIORateLimiter(overall_max_rate=config.broadcast.messages_per_second, max_retries=5)
        )
        .persistence(SqlPersistence(services.db))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data[SERVICES_KEY] = services
    register_handlers(application, services)
    return application


def allowed_updates() -> list[str]:
    return [Update.MESSAGE, Update.CALLBACK_QUERY]
