"""The one place that loads configuration: config.yaml, validated, plus environment overrides.

Secrets (the bot token, database passwords) never live in the file: they come from the
environment only. The settings' shape lives in core.settings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.settings import AppConfig
from storage.yaml_files import load_yaml

__all__ = [
    "AppConfig",
    "ConfigError",
    "bot_token",
    "config_path",
    "load_config",
    "webhook_secret",
]

DEFAULT_CONFIG_NAME = "config.yaml"


class ConfigError(Exception):
    """A configuration problem, already phrased for a person: no traceback needed."""


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{location}: {message[:1].lower()}{message[1:]}"


SQLITE_PREFIX = "sqlite:///"
BOT_FOLDER = Path(__file__).resolve().parent.parent  # where the shipped faq/content lives


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Relative paths in the file are relative to the file, not to the working directory,
    so a config.yaml copied to another folder (an organiser's own setup) keeps working."""
    for section, key in (("faq", "content"), ("activities", "file")):
        value = (raw.get(section) or {}).get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            beside = base / value
            shipped = BOT_FOLDER / value
            # A copy of the committed config.yaml still names the bot's own FAQ content
            # (faq/content): use the shipped files when the copy's folder has none.
            raw[section][key] = str(
                shipped if not beside.exists() and shipped.exists() else beside
            )
    storage = raw.get("storage")
    if storage is None or isinstance(storage, dict):
        # The default SQLite file too (./data/ beside the config file).
        url = (storage or {}).get("url", AppConfig().storage.url)
        if isinstance(url, str) and url.startswith(SQLITE_PREFIX):
            file = url.removeprefix(SQLITE_PREFIX)
            # A SQLite URI ("file:…?mode=ro&uri=true") names its own path.
            uri = file.startswith("file:")
            if file and file != ":memory:" and not uri and not Path(file).is_absolute():
                raw["storage"] = {**(storage or {}), "url": f"{SQLITE_PREFIX}{base / file}"}


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
            raw = load_yaml(path.read_text(encoding="utf-8")) or {}
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


WEBHOOK_SECRET_VARIABLE = "TELEGRAM_WEBHOOK_SECRET"
# Telegram accepts 1-256 of these characters; fewer than 16 could be guessed by whoever can
# reach the webhook (and a very short one cannot be redacted from logs without garbling them).
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")
MAKE_WEBHOOK_SECRET = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def webhook_secret(environ: dict[str, str] | None = None) -> str:
    """The secret Telegram sends with every webhook update; webhook mode never runs without
    one (anyone who finds the URL could otherwise post updates "from" an organiser)."""
    environ = dict(os.environ) if environ is None else environ
    secret = environ.get(WEBHOOK_SECRET_VARIABLE, "").strip()
    if not secret:
        raise ConfigError(
            f"{WEBHOOK_SECRET_VARIABLE} is not set, and webhook mode needs it; make one with: "
            f"{MAKE_WEBHOOK_SECRET}"
        )
    if _WEBHOOK_SECRET.fullmatch(secret) is None:
        raise ConfigError(
            f"{WEBHOOK_SECRET_VARIABLE} must be 16-256 characters of A-Z, a-z, 0-9, _ and - "
            f"(it has {len(secret)}); make one with: {MAKE_WEBHOOK_SECRET}"
        )
    return secret
