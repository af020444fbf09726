"""The one place that loads configuration: config.yaml, validated, plus environment overrides.

Secrets (the bot token, database passwords) never live in the file: they come from the
environment only. The settings' shape lives in core.settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.settings import AppConfig

__all__ = ["AppConfig", "ConfigError", "bot_token", "config_path", "load_config"]

DEFAULT_CONFIG_NAME = "config.yaml"


class ConfigError(Exception):
    """A configuration problem, already phrased for a person: no traceback needed."""


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
