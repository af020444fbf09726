"""The bot's settings: the typed, validated shape of config.yaml.

Loading the file and the environment is the composition root's job (bot/config.py); this
module is only the vocabulary that handlers and jobs read.
"""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from faq.matching import Thresholds
from storage.db import DbTimeouts
from storage.durations import parse_duration
from storage.quiet_hours import QuietHours

MATCHER_DEFAULTS = Thresholds()

PACKAGED_FAQ = Path(__file__).resolve().parent.parent / "faq" / "content"
# Example activities after the "Vooruitblik Activiteiten" of MAO II, for the offline console
# and for trying the bot out; never loaded unless `activities.examples` is true.
EXAMPLE_ACTIVITIES = Path(__file__).resolve().parent.parent / "activities.yaml"


def _percent(value: float) -> float:
    if not 0 <= value <= 100:
        raise ValueError("must be between 0 and 100")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}'") from None
    return value


def _duration(value: object) -> object:
    # Written as 90s, 15m, 2h, 2d or ISO-8601 in the file; a timedelta everywhere else.
    return parse_duration(value) if isinstance(value, str) else value


def _clock_time(value: object) -> object:
    # An hour alone (22, as older config files wrote it) is that hour, not 22 seconds.
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 23:
            raise ValueError("an hour is between 0 and 23")
        return time(value)
    return value


def _whole_minutes(value: time) -> time:
    if value.second or value.microsecond or value.tzinfo is not None:
        raise ValueError("write a time of day as HH:MM, without a zone (timezone applies)")
    return value


Percent = Annotated[float, AfterValidator(_percent)]
ClockTime = Annotated[time, BeforeValidator(_clock_time), AfterValidator(_whole_minutes)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TelegramConfig(_Section):
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    bot_username: str | None = None
    # Seconds to wait for Telegram's answer; past it the outcome of a send is unknown
    # ("unconfirmed" in the outbox), so it is not sent again.
    read_timeout: float = Field(default=10.0, gt=0, le=120)
    # Updates of different users processed at once (one user's stay in order; see
    # bot/updates.py). 1 processes every update after the previous one.
    concurrent_updates: int = Field(default=64, ge=1, le=1024)

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> TelegramConfig:
        # Checked with the file, so `check-config` finds it, not only a failing `run`.
        if self.mode == "webhook" and not self.webhook_url:
            raise ValueError("webhook_url is required when mode is webhook")
        return self


_DB = DbTimeouts()


class StorageConfig(_Section):
    url: str = "sqlite:///data/mao-bot.sqlite3"
    # Seconds; every wait on the database ends (see storage/db.py, DbTimeouts).
    connect_timeout: float = Field(default=_DB.connect, gt=0, le=60)
    pool_timeout: float = Field(default=_DB.pool, gt=0, le=60)
    statement_timeout: float = Field(default=_DB.statement, gt=0, le=600)
    lock_timeout: float = Field(default=_DB.lock, gt=0, le=600)
    busy_timeout: float = Field(default=_DB.busy, gt=0, le=600)
    # One call from the bot, queueing included: past it a user hears "not now".
    call_timeout: float = Field(default=_DB.call, gt=0, le=600)
    # A read an answer can do without (the user's conversation state, FAQ additions): past
    # it the answer comes from memory.
    read_timeout: float = Field(default=_DB.read, gt=0, le=60)
    workers: int = Field(default=_DB.workers, ge=1, le=64)

    def timeouts(self) -> DbTimeouts:
        return DbTimeouts(
            connect=self.connect_timeout,
            pool=self.pool_timeout,
            statement=self.statement_timeout,
            lock=self.lock_timeout,
            busy=self.busy_timeout,
            call=self.call_timeout,
            read=self.read_timeout,
            workers=self.workers,
        )


class LanguageConfig(_Section):
    default: Literal["nl", "en"] = "nl"
    supported: tuple[Literal["nl", "en"], ...] = ("nl", "en")


class ThresholdsConfig(_Section):
    # The matcher's own defaults, chosen on the dev sample (see README, "Measured figures").
    answer: Percent = MATCHER_DEFAULTS.answer
    suggest: Percent = MATCHER_DEFAULTS.suggest
    margin: Percent = MATCHER_DEFAULTS.margin


class FaqConfig(_Section):
    content: Path = PACKAGED_FAQ
    thresholds: ThresholdsConfig = ThresholdsConfig()
    related: int = Field(default=3, ge=0, le=3)


class ContactConfig(_Section):
    email: str = "metandereogen@vng.nl"
    website: str = "https://www.aanpakmetandereogen.nl"


class PrivacyConfig(_Section):
    keep_registrations_days: int = Field(default=183, ge=1)
    keep_faq_misses_days: int = Field(default=90, ge=1)


class ActivitiesConfig(_Section):
    file: Path | None = None
    # Load the example activities (EXAMPLE_ACTIVITIES, and entries marked `sample: true` in
    # `file`). Off for a real bot; `mao-bot console` turns it on for its demo.
    examples: bool = False
    page_size: int = Field(default=5, ge=1, le=10)


class SignupConfig(_Section):
    timeout: Duration = timedelta(minutes=30)


class RemindersConfig(_Section):
    offsets: tuple[Duration, ...] = (timedelta(days=2), timedelta(hours=2))
    # An online activity's meeting link is sent this long before it starts (also to who
    # signs up later, until it ends). None or 0 sends no link (it stays in the agenda).
    join_link_before: Duration | None = Field(default=timedelta(minutes=30), ge=timedelta(0))
    # No longer used (a reminder due while the bot was down is sent until the activity
    # starts); still accepted so that older config files keep working.
    misfire_grace: Duration = timedelta(hours=12)


class FeedbackConfig(_Section):
    # Attendees are asked for stars and a comment this long after an activity ends.
    after: Duration = timedelta(hours=2)
    enabled: bool = True


class BroadcastConfig(_Section):
    # Everything the bot sends to chats (replies first, then owed and bulk messages) shares
    # this budget; sends are spaced 5% wider than this (jobs/outbox.py, SendBudget).
    # Telegram allows about 30/s; higher values are only for a self-hosted Bot API or tests.
    messages_per_second: float = Field(default=30.0, gt=0, le=1000)
    # Bulk and owed messages to one chat keep this far apart: Telegram allows about one a
    # second per chat. Only a self-hosted Bot API or tests want it shorter.
    chat_gap: Duration = Field(default=timedelta(seconds=1.1), gt=timedelta(0))
    # Local times [start, end] (21:00-08:00 spans midnight): announcements and feedback
    # questions wait until the end, reminders go the evening before (storage/quiet_hours.py).
    # null: no quiet hours. An hour alone (22) means 22:00.
    quiet_hours: tuple[ClockTime, ClockTime] | None = (time(21), time(8))
    # How long a message claimed by the outbox may stay in flight; after a crash, another
    # start (or instance) sends it again once this has run out.
    lease: Duration = timedelta(seconds=30)
    # Messages on their way at once: at 100 ms per call, one at a time reaches ~9/s. The
    # cost: a crash may repeat up to this many (sent, but not yet recorded as sent).
    in_flight: int = Field(default=4, ge=1, le=32)
    progress_every: int = Field(default=200, ge=1)


class FloodConfig(_Section):
    """What one user may ask of the bot, so that nobody can slow it down for everyone."""

    # At most `updates` messages and button taps per `per`; the rest is dropped. A person who
    # types or taps quickly stays well below 20 in 10 seconds.
    updates: int = Field(default=30, ge=20)
    per: Duration = Field(default=timedelta(seconds=10), gt=timedelta(0))
    # Unanswered questions kept per user and hour (they are stored without the user's id).
    misses_per_hour: int = Field(default=20, ge=0)


class ExportConfig(_Section):
    # Dutch Excel reads ";" as the column separator; scripts may want ",".
    csv_separator: str = Field(default=";", min_length=1, max_length=1)


class AnswerWithinConfig(_Section):
    """When users may expect an answer from the programme office, as they are told it."""

    nl: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.nl


class InboxLimitsConfig(_Section):
    """How many threads one person may start (core/inbox_limits.py), anonymous ones included."""

    per_hour: int = Field(default=5, ge=1, le=1000)
    per_day: int = Field(default=20, ge=1, le=10000)


class InboxConfig(_Section):
    """The inbox: questions the FAQ could not answer, stories and bottlenecks, handed over to
    the programme office (handlers/inbox.py)."""

    # The organisers' Telegram group (the bot must be a member of it; a supergroup's id
    # starts with -100). None: every organiser gets each message in a private chat.
    chat_id: int | None = None
    # A promise only the programme can make: without it, people are told no answer time.
    answer_within: AnswerWithinConfig | None = None
    # A thread (its messages and who sent them) is deleted this long after its last message.
    retention: Duration = Field(default=timedelta(days=365), ge=timedelta(days=1))
    limits: InboxLimitsConfig = InboxLimitsConfig()


class AppConfig(_Section):
    telegram: TelegramConfig = TelegramConfig()
    storage: StorageConfig = StorageConfig()
    language: LanguageConfig = LanguageConfig()
    timezone: TimeZoneName = "Europe/Amsterdam"
    faq: FaqConfig = FaqConfig()
    admins: tuple[int, ...] = ()
    contact: ContactConfig = ContactConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    activities: ActivitiesConfig = ActivitiesConfig()
    signup: SignupConfig = SignupConfig()
    reminders: RemindersConfig = RemindersConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    broadcast: BroadcastConfig = BroadcastConfig()
    flood: FloodConfig = FloodConfig()
    export: ExportConfig = ExportConfig()
    inbox: InboxConfig = InboxConfig()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def quiet_hours(self) -> QuietHours | None:
        window = self.broadcast.quiet_hours
        if window is None or window[0] == window[1]:
            return None
        return QuietHours(window[0], window[1], self.zone)

    def is_admin(self, telegram_id: int) -> bool:
        return telegram_id in self.admins

    def warnings(self) -> list[str]:
        """What is valid but probably not meant (`mao-bot check-config` prints these)."""
        found: list[str] = []
        if self.inbox.chat_id is None and not self.admins:
            found.append(
                "inbox: no inbox.chat_id and no admins: questions, stories and bottlenecks reach"
                " nobody unless an organiser was added with `mao-bot admin add ID`; until then"
                f" people are given {self.contact.email} instead of the hand-over"
            )
        return found
