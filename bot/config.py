"""The one place that loads configuration: config.yaml, validated, plus environment overrides.

Secrets (the bot token, database passwords) never live in the file: they come from the
environment only.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from faq.matching import Thresholds
from storage.durations import parse_duration

MATCHER_DEFAULTS = Thresholds()

DEFAULT_CONFIG_NAME = "config.yaml"
PACKAGED_FAQ = Path(__file__).resolve().parent.parent / "faq" / "content"


class ConfigError(Exception):
    """A configuration problem, already phrased for a person: no traceback needed."""


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


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Percent = Annotated[float, AfterValidator(_percent)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Duration = Annotated[str, AfterValidator(_duration)]


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


class StorageConfig(_Section):
    url: str = "sqlite:///data/mao-bot.sqlite3"


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
    page_size: int = Field(default=5, ge=1, le=10)


class SignupConfig(_Section):
    timeout: Duration = "30m"


class RemindersConfig(_Section):
    offsets: tuple[Duration, ...] = ("2d", "2h")
    misfire_grace: Duration = "12h"

    @property
    def default_offsets(self) -> list[timedelta]:
        return [parse_duration(offset) for offset in self.offsets]


class BroadcastConfig(_Section):
    # Telegram allows about 30/s; higher values are only for a self-hosted Bot API or tests.
    messages_per_second: float = Field(default=25.0, gt=0, le=1000)
    quiet_hours: tuple[int, int] | None = None
    # How long an instance's claim on a broadcast lasts without renewal; after a crash,
    # another start (or instance) takes over once it has run out.
    lease: Duration = "30s"
    progress_every: int = Field(default=200, ge=1)


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
    broadcast: BroadcastConfig = BroadcastConfig()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_admin(self, telegram_id: int) -> bool:
        return telegram_id in self.admins


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{location}: {message[:1].lower()}{message[1:]}"


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for section, key in (("faq", "content"), ("activities", "file")):
        value = (raw.get(section) or {}).get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            raw[section][key] = str(base / value)


def _apply_environment(raw: dict[str, Any], environ: dict[str, str]) -> None:
    if environ.get("DATABASE_URL"):
        raw.setdefault("storage", {})["url"] = environ["DATABASE_URL"]
    base_url = environ.get("TELEGRAM_BASE_URL", "").strip().rstrip("/")
    if base_url:
        root = base_url.removesuffix("/bot")
        telegram = raw.setdefault("telegram", {})
        telegram["base_url"] = f"{root}/bot"
        telegram["base_file_url"] = f"{root}/file/bot"


def config_path(environ: dict[str, str] | None = None, explicit: str | None = None) -> Path:
    environ = dict(os.environ) if environ is None else environ
    return Path(explicit or environ.get("MAO_CONFIG") or DEFAULT_CONFIG_NAME)


def load_config(path: Path | None = None, environ: dict[str, str] | None = None) -> AppConfig:
    """Load, merge with the environment, validate. Raises ConfigError naming file and field."""
    environ = dict(os.environ) if environ is None else environ
    path = path or config_path(environ)
    raw: Any = {}
    if path.exists():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: cannot be read: {error}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: must be a mapping of sections")
        _resolve_paths(raw, path.resolve().parent)
    elif "MAO_CONFIG" in environ or path.name != DEFAULT_CONFIG_NAME:
        raise ConfigError(f"{path}: file not found")
    _apply_environment(raw, environ)
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError("\n".join(f"{path}: {_describe(e)}" for e in error.errors())) from None
    if config.faq.thresholds.suggest > config.faq.thresholds.answer:
        raise ConfigError(
            f"{path}: faq.thresholds.suggest: must not be above faq.thresholds.answer"
        )
    return config


def bot_token(environ: dict[str, str] | None = None) -> str:
    environ = dict(os.environ) if environ is None else environ
    token = environ.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: export the token BotFather gave you "
            "(or use `mao-bot console` to try the bot offline)"
        )
    return token
