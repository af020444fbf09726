"""The composition root: build_application(services) -> Application, handlers in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.logs import keep_libraries_quiet
from bot.persistence import SqlPersistence, end_lapsed_conversations
from bot.updates import PerUserUpdateProcessor
from core.context import SERVICES_KEY, MaoContext, services_of
from core.services import Services
from core.settings import EXAMPLE_ACTIVITIES, ActivitiesConfig
from handlers import (
    agenda,
    attendees,
    basics,
    broadcast,
    checkin,
    errors,
    faq,
    feedback,
    flood,
    groups,
    mine,
    organiser_activities,
    privacy,
    reminders,
    signup,
    stats,
)
from handlers.menus import register_command_menus
from jobs.maintenance import expire_offers_job, retention_job
from jobs.outbox import NO_LIMITER_RETRIES, outbox_of
from storage.activities import ActivitySpec, read_activity_file, upsert_activities
from storage.db import safe_url

logger = logging.getLogger(__name__)

MaoApplication = Application[Any, MaoContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


class RateLimiter(AIORateLimiter):
    """PTB's limiter, plus: a call marked NO_LIMITER_RETRIES is not retried on 429 here.

    PTB waits out a 429 itself and holds every other call meanwhile; the outbox instead
    reschedules just the message that was refused (and slows only bulk sending)."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if rate_limit_args == NO_LIMITER_RETRIES:
            return await self._run_request(
                chat=data.get("chat_id") is not None,
                group=False,  # owed messages go to private chats only
                allow_paid_broadcast=False,
                callback=callback,
                args=args,
                kwargs=kwargs,
            )
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def activities_to_load(config: ActivitiesConfig) -> tuple[ActivitySpec, ...]:
    """The activities of `activities.file`, plus the examples only when config asks for them:
    a real bot must not offer invented activities (nor an old file's `sample: true` ones)."""
    specs: list[ActivitySpec] = []
    if config.file is not None and config.file.exists():
        specs += read_activity_file(config.file).activities
    if not config.examples:
        skipped = [spec.slug for spec in specs if spec.sample]
        if skipped:
            logger.info("Example activities not loaded (activities.examples is off): %s", skipped)
        return tuple(spec for spec in specs if not spec.sample)
    if config.file is None or config.file.resolve() != EXAMPLE_ACTIVITIES:
        specs += read_activity_file(EXAMPLE_ACTIVITIES).activities
    return tuple(specs)


def prepare_storage(services: Services) -> None:
    """Migrate the database (persistence reads it during initialize) and load activities."""
    services.db.upgrade()
    services.db.check_writable()
    logger.info("Database ready (%s)", safe_url(services.db.url))
    specs = activities_to_load(services.config.activities)
    if specs:
        with services.db.session() as session:
            report = upsert_activities(
                session,
                specs,
                services.config.zone,
                services.now(),
                services.config.reminders.offsets,
                services.config.reminders.join_link_before,
            )
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
    # Group -3 before all: a conversation left longer than its timeout (also before a
    # restart) ends here, so that the text typed now is not taken as its next answer. Its
    # own group: every handler of groups -2 and -1 matches every update (one per group runs).
    # A forged button press without data would match every button pattern: refused first.
    application.add_handler(basics.build_empty_button_handler(), group=-4)
    application.add_handler(TypeHandler(Update, end_lapsed_conversations), group=-3)
    # Group -2: a user over the flood limit is told once to slow down, and the rest of their
    # burst stops here, before the user is recorded or anything is stored.
    application.bot_data[flood.GUARD_KEY] = flood.FloodGuard.from_settings(services.config.flood)
    application.add_handler(flood.build_handler(), group=-2)
    # Group -1: an update from a group or channel stops at the gate (at most a pointer to a
    # private chat), so group members are never recorded; every private update goes on to
    # the tracking handler, which records the user and fixes their language.
    application.add_handler(groups.build_gate_handler(), group=-1)
    application.add_handler(basics.build_tracking_handler(), group=-1)
    # Group 0, first match wins, so order matters. The sign-up conversation comes first: it
    # owns "/start signup_<slug>" deep links and the text typed during the flow.
    # Organiser conversation before sign-up: both answer /annuleer, and sign-up also has a
    # catch-all "nothing to cancel" that must not swallow the organiser's.
    # The door's deep link "/start checkin_<code>" before every other /start (sign-up's
    # deep links, the greeting); the attendee view and check-in after the broadcast
    # conversation, whose entry point answers the attendee view's "write to them" button.
    application.add_handlers(checkin.build_deep_link_handlers())
    application.add_handlers(broadcast.build_handlers())
    application.add_handlers(attendees.build_handlers())
    application.add_handlers(checkin.build_handlers())
    # Organisers' activities after the other organiser conversations and before sign-up,
    # whose catch-all "nothing to cancel" must not swallow this conversation's /annuleer.
    application.add_handlers(organiser_activities.build_handlers())
    application.add_handlers(signup.build_handlers(services.config.signup.timeout))
    # Feedback after sign-up: a comment typed during a sign-up is the sign-up's answer; only
    # outside it is free text a feedback comment (for 30 minutes after the stars).
    application.add_handlers(feedback.build_handlers())
    application.add_handlers(stats.build_handlers())
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


def schedule_jobs(application: MaoApplication) -> None:
    job_queue = application.job_queue
    assert job_queue is not None
    # Names are fixed so a restart replaces rather than duplicates; the database holds the
    # truth, so these only need to look regularly.
    job_queue.run_repeating(expire_offers_job, interval=60, first=5, name="offer-expiry")
    job_queue.run_repeating(retention_job, interval=timedelta(days=1), first=60, name="retention")


async def _post_init(application: MaoApplication) -> None:
    services = services_of(application)
    await register_command_menus(application.bot, services)
    schedule_jobs(application)
    # Everything owed (also what was owed when the bot stopped or crashed) is sent from here.
    outbox_of(application).start()


async def _post_stop(application: MaoApplication) -> None:
    await outbox_of(application).stop()


async def _post_shutdown(application: MaoApplication) -> None:
    services = services_of(application)
    services.db.dispose()


def update_processor(concurrent_updates: int) -> PerUserUpdateProcessor | int:
    """Users served at once, each user's updates in order (bot/updates.py); 1 is PTB's own
    one-update-after-the-other."""
    return PerUserUpdateProcessor(concurrent_updates) if concurrent_updates > 1 else 1


def build_application(
    services: Services,
    token: str,
    *,
    application_class: type[Application[Any, Any, Any, Any, Any, Any]] = Application,
) -> MaoApplication:
    config = services.config
    keep_libraries_quiet()
    persistence = SqlPersistence(services.db, services.now)
    application: MaoApplication = (
        ApplicationBuilder()
        .application_class(application_class)
        .token(token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.base_file_url)
        .read_timeout(config.telegram.read_timeout)
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
            RateLimiter(overall_max_rate=config.broadcast.messages_per_second, max_retries=5)
        )
        .persistence(persistence)
        .concurrent_updates(update_processor(config.telegram.concurrent_updates))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data[SERVICES_KEY] = services
    register_handlers(application, services)
    persistence.watch_timeouts(application)
    return application


def allowed_updates() -> list[str]:
    return [Update.MESSAGE, Update.CALLBACK_QUERY]
