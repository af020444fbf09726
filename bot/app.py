"""The composition root: build_application(services) -> Application, handlers in one place."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.cancelling import build_cancel_handler
from bot.logs import keep_libraries_quiet
from bot.persistence import (
    SqlPersistence,
    end_lapsed_conversations,
    load_state,
    persist_now,
)
from bot.updates import PerUserUpdateProcessor
from core.context import SERVICES_KEY, MaoContext, services_of
from core.faq_live import refresh_matcher
from core.flood_guard import GUARD_KEY, FloodGuard
from core.menus import register_command_menus
from core.services import Services
from core.settings import EXAMPLE_ACTIVITIES, ActivitiesConfig
from handlers import (
    activities_owed,
    agenda,
    attendees,
    basics,
    broadcast,
    broadcast_owed,
    checkin,
    errors,
    faq,
    faq_learning,
    feedback,
    feedback_owed,
    flood,
    groups,
    inbox,
    inbox_owed,
    mine,
    organiser_activities,
    privacy,
    privacy_owed,
    reminders,
    reminders_owed,
    signup,
    signup_owed,
    stats,
)
from jobs.maintenance import expire_offers_job, retention_job
from jobs.outbox import outbox_of
from jobs.owed_kinds import register_kinds, register_sweeps
from jobs.pacing import RateLimiter, budget_for
from storage.activities import ActivitySpec, read_activity_file, upsert_activities
from storage.db import safe_url

logger = logging.getLogger(__name__)

MaoApplication = Application[Any, MaoContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


class AnsweringApplication(Application):  # type: ignore[type-arg]
    """Answers each update inside the outbox's `answering` scope (jobs/outbox.py): what the
    update owed the person (a confirmation, a calendar file) follows its own answer at once,
    before the update counts as done; nobody has to remember to send it."""

    async def process_update(self, update: object) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        async with outbox_of(self).answering(user.id if user is not None else None):
            await super().process_update(update)


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
    register_owed_kinds()  # a moved activity owes its notices
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


def register_owed_kinds() -> None:
    """Every message the bot owes, declared by the feature that owes it (priority, how it
    is loaded and written out, what follows sending), and the sweeps that owe messages as
    time passes: the outbox (jobs/outbox.py) knows them only through this registry, storage
    their priorities. Before anything is owed."""
    register_kinds(
        signup_owed.OWED,  # confirmations, the waiting list, offers, calendar files
        activities_owed.OWED,  # an activity cancelled, on again, moved
        reminders_owed.OWED,  # reminders and the meeting link
        feedback_owed.OWED,  # the feedback question
        inbox_owed.OWED,  # copies to the organisers, answers, undelivered notes
        broadcast_owed.OWED,  # announcements (and the organiser's status report)
        privacy_owed.OWED,  # /vergeetmij: copies erased from the organisers' chats
    )
    register_sweeps(
        *feedback_owed.SWEEPS,  # feedback questions once an activity is over
        *reminders_owed.SWEEPS,  # reminders moved out of the quiet hours
    )


def register_handlers(application: MaoApplication, services: Services) -> None:
    # Group -4 before all: a conversation left longer than its timeout (also before a
    # restart) ends here, so that the text typed now is not taken as its next answer. Its
    # own group: every handler of groups -3 and -2 matches every update (one per group runs).
    # A forged button press without data would match every button pattern: refused first.
    application.add_handler(basics.build_empty_button_handler(), group=-5)
    # Group -7, first of all: the user's conversation states and user data as the database
    # holds them (their previous update may have gone to another instance; bot/persistence).
    application.add_handler(TypeHandler(Update, load_state), group=-7)
    # Group -6, before all: a private text may be a question, so the FAQ matcher takes in the
    # additions organisers made on any instance first (one cheap query; a rebuild only when
    # they changed). It only reads, so it may come before the flood guard and the gate.
    application.add_handler(faq_learning.build_refresh_handler(), group=-6)
    application.add_handler(TypeHandler(Update, end_lapsed_conversations), group=-4)
    # Group -3: a user over the flood limit is told once to slow down, and the rest of their
    # burst stops here, before the user is recorded or anything is stored.
    application.bot_data[GUARD_KEY] = FloodGuard.from_settings(services.config.flood)
    application.add_handler(flood.build_handler(), group=-3)
    # Group -2: an update from a group or channel stops at the gate (at most a pointer to a
    # private chat), so group members are never recorded (only an organiser's reply to an
    # inbox copy in the organisers' chat passes, see core/inbox_access.py: gate); every private
    # update goes on to the tracking handler, which records the user and fixes their language.
    application.add_handler(groups.build_gate_handler(), group=-2)
    application.add_handler(basics.build_tracking_handler(), group=-2)
    # Group -1: /annuleer ends every flow the user is in and stops there (bot/cancelling.py),
    # so no handler of group 0 sees it and their order does not matter for it.
    application.add_handler(build_cancel_handler([faq_learning.end_pending]), group=-1)
    # Replies to the bot's inbox messages first: an organiser's reply to a copy is an answer
    # (also in the organisers' group, let through by the gate), and a person's reply to an
    # answer goes back to the thread, even during a flow and never to the FAQ. Group -1
    # also looks up what a text reply to the bot answers (through the database seam: a
    # handler's check cannot wait for it; never a command, so never /annuleer); the first
    # handler of group 0 then takes the replies found.
    look_up_reply, answer_reply = inbox.build_reply_handlers()
    application.add_handler(look_up_reply, group=-1)
    application.add_handler(answer_reply)
    # Group 0, first match wins, so order matters. The sign-up conversation comes first: it
    # owns "/start signup_<slug>" deep links and the text typed during the flow.
    # The door's deep link "/start checkin_<code>" before every other /start (sign-up's
    # deep links, the greeting); the attendee view and check-in after the broadcast
    # conversation, whose entry point answers the attendee view's "write to them" button.
    application.add_handlers(checkin.build_deep_link_handlers())
    application.add_handlers(broadcast.build_handlers())
    application.add_handlers(attendees.build_handlers())
    application.add_handlers(checkin.build_handlers())
    application.add_handlers(organiser_activities.build_handlers())
    # The inbox: stories, bottlenecks, the FAQ's hand-over.
    application.add_handlers(inbox.build_handlers(services.config.signup.timeout))
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
    # Organisers' "Voeg toe aan FAQ" and /faqgaps: commands and buttons only, no free text.
    application.add_handlers(faq_learning.build_handlers())
    # Free text is a question for the FAQ, after every command and button above.
    application.add_handlers(faq.build_handlers(takers=[faq_learning.take_rewrite]))
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
    # Organisers' FAQ additions in the matcher from the first question on (core/faq_live.py).
    await refresh_matcher(services)
    await register_command_menus(application.bot, services)
    schedule_jobs(application)
    # Everything owed (also what was owed when the bot stopped or crashed) is sent from here.
    outbox_of(application).start()


async def _post_stop(application: MaoApplication) -> None:
    await outbox_of(application).stop()


async def _post_shutdown(application: MaoApplication) -> None:
    services = services_of(application)
    services.db.dispose()


async def stop_application(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Finish the updates in hand and shut down, with the post_stop and post_shutdown hooks
    (the order of PTB's own run_polling / run_webhook)."""
    if application.running:
        await application.stop()
    if application.post_stop:
        await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


def update_processor(concurrent_updates: int) -> PerUserUpdateProcessor | int:
    """Users served at once, each user's updates in order (bot/updates.py); 1 is PTB's own
    one-update-after-the-other."""
    return PerUserUpdateProcessor(concurrent_updates) if concurrent_updates > 1 else 1


def build_application(
    services: Services,
    token: str,
    *,
    application_class: type[Application[Any, Any, Any, Any, Any, Any]] = AnsweringApplication,
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
            # Telegram allows ~30 messages/s overall, ~1/s per chat and 20/min per group: one
            # budget for the replies and the outbox (jobs/pacing.py), replies first; a 429 is
            # waited out by its call only.
            RateLimiter(budget_for(services), max_retries=5)
        )
        .persistence(persistence)
        .concurrent_updates(update_processor(config.telegram.concurrent_updates))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data[SERVICES_KEY] = services
    register_owed_kinds()
    register_handlers(application, services)
    persistence.watch_timeouts(application)
    return application


def allowed_updates() -> list[str]:
    return [Update.MESSAGE, Update.CALLBACK_QUERY]
