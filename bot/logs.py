"""Logging set-up: no secrets and no message text in the logs."""

from __future__ import annotations

import logging
import os

from bot.config import ConfigError

REDACTED = "[REDACTED]"

# Libraries that log request bodies, update contents or SQL parameters at DEBUG (PTB dumps
# every update with its text, httpx/httpcore the request URL with the token, SQLAlchemy each
# statement). They stay at these levels, or quieter, whatever MAO_LOG_LEVEL says; only
# MAO_LOG_LIBRARIES opens them up, for debugging a library on purpose.
LIBRARY_LEVELS = {
    "telegram": logging.INFO,
    "alembic": logging.INFO,
    # Every request URL at INFO, and the URL contains the bot token.
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "apscheduler": logging.WARNING,
    # INFO is every SQL statement.
    "sqlalchemy": logging.WARNING,
    # tornado (webhook mode) logs every request at INFO.
    "tornado": logging.WARNING,
}

# PTB logs a failed start (with a traceback, the token in its message) and then raises it;
# `mao-bot run` reports that failure in one line of its own (see bot.cli).
# Its network retry loop logs as "telegram.ext", naming the action: "(Bootstrap Initialize
# Application)", "(Bootstrap Set Webhook)"...
_STARTUP_LOGGER = "telegram.ext"
_STARTUP_MARK = "Network Retry Loop (Bootstrap"


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:  # replacing "" would insert the marker between every character
            text = text.replace(secret, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """Replaces the bot token (and any other known secret) in a record's message.

    Only the message: RedactingFormatter also covers arguments' reprs and tracebacks."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "[REDACTED]")
            record.msg, record.args = message, None
        return True


class RedactingFormatter(logging.Formatter):
    """Formats the whole record (message, traceback, stack) and then removes every secret:
    an exception's message can contain the token (PTB's InvalidToken does)."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        formatted = super().format(record)
        # logging caches the formatted traceback on the record for other handlers: redact it
        # there too, so no handler prints the unredacted one.
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return redact(formatted, self.secrets)


class DropReportedStartupFailure(logging.Filter):
    """Drops PTB's own record of a failed start; the command line says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != _STARTUP_LOGGER or record.levelno < logging.ERROR:
            return True
        return _STARTUP_MARK not in record.getMessage()


def _level(variable: str, value: str) -> int:
    level = logging.getLevelName(value.strip().upper())
    if not isinstance(level, int):
        raise ConfigError(f"{variable}: unknown log level '{value}' (DEBUG, INFO, WARNING, ERROR)")
    return level


def setup_logging(level: str | None = None, secrets: list[str] | None = None) -> None:
    application_level = _level("MAO_LOG_LEVEL", level or os.environ.get("MAO_LOG_LEVEL", "INFO"))
    libraries = os.environ.get("MAO_LOG_LIBRARIES", "").strip()
    libraries_level = _level("MAO_LOG_LIBRARIES", libraries) if libraries else None
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets or [])
    )
    handler.addFilter(RedactSecrets(secrets or []))
    handler.addFilter(DropReportedStartupFailure())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(application_level)
    quiet_noisy_loggers(application_level, libraries_level)


def keep_libraries_quiet() -> None:
    """The same library levels for a bot built without setup_logging (tests, embedding):
    whoever turns the root logger to DEBUG still gets no update texts or tokens."""
    libraries = os.environ.get("MAO_LOG_LIBRARIES", "").strip()
    libraries_level = _level("MAO_LOG_LIBRARIES", libraries) if libraries else None
    quiet_noisy_loggers(logging.getLogger().getEffectiveLevel(), libraries_level)


def quiet_noisy_loggers(
    application_level: int = logging.INFO, libraries_level: int | None = None
) -> None:
    """Libraries log at their LIBRARY_LEVELS (or quieter, when the application is quieter),
    unless `libraries_level` (MAO_LOG_LIBRARIES) asks for another level."""
    for name, default in LIBRARY_LEVELS.items():
        chosen = (
            libraries_level if libraries_level is not None else max(default, application_level)
        )
        logging.getLogger(name).setLevel(chosen)
