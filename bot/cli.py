"""The `mao-bot` command line. Parses arguments and calls into the application."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.config import (
    AppConfig,
    ConfigError,
    bot_token,
    config_path,
    load_config,
    webhook_secret,
)
from bot.logs import redact, setup_logging
from bot.services import build_faq, build_services
from core.i18n import Catalogue
from faq.content import FaqContentError, load_faq
from faq.matching import Band
from storage.activities import ActivityFileError, read_activity_file
from storage.db import Database, safe_url

if TYPE_CHECKING:
    from bot.app import MaoApplication

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot could not start for a reason outside the code (Telegram refused the token, the
    network is down), already phrased for the operator: one line, no traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mao-bot", description="The Met Andere Ogen bot")
    parser.add_argument("--config", help="config file (default: $MAO_CONFIG or ./config.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the bot on Telegram (needs TELEGRAM_BOT_TOKEN)")

    console = commands.add_parser(
        "console",
        help="talk to the bot offline in this terminal",
        description="Talk to the real bot offline, as a user would: type questions and"
        " /commands (also piped, one per line).",
        epilog=_console_commands(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    console.add_argument("--user-id", type=int, default=1001, help="your pretend Telegram id")
    console.add_argument("--lang", choices=["nl", "en"], default="nl", help="client language")
    console.add_argument(
        "--files",
        type=Path,
        default=Path("mao-console-files"),  # bot.offline.console.DEFAULT_FILES
        metavar="DIR",
        help="where documents the bot sends (.ics, CSV) are saved (default: ./mao-console-files)",
    )
    console.add_argument(
        "--log", type=Path, metavar="FILE", help="log file (default: console.log in --files)"
    )
    console.add_argument(
        "--database",
        metavar="URL",
        help="database of the console (default: console.sqlite3 in --files; never the config's"
        " nor $DATABASE_URL, which `mao-bot run` uses)",
    )
    console.add_argument(
        "--organiser",
        "--organizer",
        type=int,
        default=9001,
        metavar="ID",
        help="this user id is an organiser in the console (default: 9001)",
    )

    faq = commands.add_parser("faq", help="FAQ tools").add_subparsers(
        dest="faq_command", required=True
    )
    match = faq.add_parser("match", help="match questions from stdin, one per line")
    match.add_argument("--json", action="store_true", help="one JSON object per line")
    faq_export = faq.add_parser(
        "export", help="organisers' additions (Voeg toe aan FAQ) as YAML for faq/content"
    )
    faq_export.add_argument(
        "--output", type=Path, metavar="FILE", help="write to FILE (default: stdout)"
    )

    commands.add_parser("check-config", help="validate the config and the FAQ content")

    events = commands.add_parser("events", help="activities").add_subparsers(
        dest="events_command", required=True
    )
    load = events.add_parser("load", help="create/update activities from a YAML file (by slug)")
    load.add_argument("file", type=Path)
    load.add_argument(
        "--force",
        action="store_true",
        help="also overwrite fields organisers changed in the chat (they are listed otherwise)",
    )
    events.add_parser("list", help="list activities with their sign-up counts")

    export = commands.add_parser("export", help="export data").add_subparsers(
        dest="export_command", required=True
    )
    registrations = export.add_parser("registrations", help="an activity's registrations")
    registrations.add_argument("slug")
    registrations.add_argument("--format", choices=["csv", "json"], default="csv")
    registrations.add_argument(
        "--separator",
        help="CSV column separator (default: export.csv_separator in config, ';')",
    )

    commands.add_parser("stats", help="figures: users, sign-ups, turn-up, feedback, FAQ, news")

    db = commands.add_parser("db", help="database tools").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply database migrations")

    admin = commands.add_parser(
        "admin", help="organisers (stored in the database)"
    ).add_subparsers(dest="admin_command", required=True)
    for action, text in (("add", "make someone an organiser"), ("remove", "take it away")):
        organiser = admin.add_parser(action, help=text)
        organiser.add_argument("telegram_id", type=int, help="their Telegram user id")
    admin.add_parser("list", help="organisers from config.yaml and from the database")

    block = commands.add_parser(
        "block", help="stop someone's messages to the programme office ('list': who is blocked)"
    )
    block.add_argument("telegram_id", metavar="ID|list", help="their Telegram user id, or list")
    unblock = commands.add_parser("unblock", help="let someone write to the programme office")
    unblock.add_argument("telegram_id", type=int, metavar="ID", help="their Telegram user id")
    return parser


def _load(args: argparse.Namespace) -> AppConfig:
    return load_config(config_path(explicit=args.config))


def _run(config: AppConfig) -> int:
    # Telegram's library loads only for `run`: the other commands start faster without it.
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from bot.app import build_application, prepare_storage

    token = bot_token()
    # Checked before anything starts: webhook mode without its secret would trust any POST.
    secret = webhook_secret() if config.telegram.mode == "webhook" else None
    setup_logging(
        secrets=[token, secret or "", *_database_secrets(os.environ.get("DATABASE_URL", ""))]
    )
    services = build_services(config)
    prepare_storage(services)
    application = build_application(services, token)
    try:
        _serve(config, application, secret)
    except InvalidToken:
        raise StartupError("Telegram rejected the bot token (check TELEGRAM_BOT_TOKEN)") from None
    except NetworkError as error:
        server = config.telegram.base_url.removesuffix("/bot")
        reason = redact(str(error), [token])
        raise StartupError(f"cannot reach Telegram at {server}: {reason}") from None
    except TelegramError as error:
        # e.g. setWebhook refused: "bad webhook: HTTPS url must be provided for webhook".
        reason = redact(str(error), [token])
        raise StartupError(f"Telegram refused to start the bot: {reason}") from None
    return 0


def _database_secrets(url: str) -> list[str]:
    """The database URL with its password, and the password alone (a driver's error may
    quote either); logs show the URL with the password masked (safe_url). A password too
    short to replace without garbling every line is left to the URL. A URL that does not
    parse is hidden whole."""
    if not url:
        return []
    try:
        password = make_url(url).password
    except ArgumentError:
        return [url]
    if not password:
        return []
    return [url, str(password)] if len(str(password)) >= 4 else [url]


def _serve(config: AppConfig, application: MaoApplication, secret: str | None) -> None:
    from bot.app import allowed_updates

    telegram = config.telegram
    if telegram.mode == "webhook":
        if not telegram.webhook_url:
            raise ConfigError("telegram.webhook_url: is required when telegram.mode is webhook")
        if secret is None:
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET: is required when telegram.mode is webhook")
        from bot.webhook import WebhookEndpoint, serve_webhook
        from core.context import services_of

        # The bot's own server rather than PTB's run_webhook: it also answers /healthz.
        asyncio.run(
            serve_webhook(
                application,
                services_of(application).db,
                WebhookEndpoint(
                    url=telegram.webhook_url,
                    listen=telegram.webhook_listen,
                    port=telegram.webhook_port,
                    secret_token=secret,
                    allowed_updates=allowed_updates(),
                ),
            )
        )
    else:
        application.run_polling(allowed_updates=allowed_updates())


def _console_commands() -> str:
    """The console's own commands (`#1`, `>3 text`, `/als`…), as its `/console` shows them."""
    language = "en"  # as the rest of --help
    return Catalogue.load().text(language, "console_help")


CONSOLE_DATABASE = "console.sqlite3"


def console_database(args: argparse.Namespace, environ: dict[str, str]) -> str:
    """The console's database: `--database`, else a file of its own in its files folder.
    Never the config file's nor DATABASE_URL: those are the real bot's (`mao-bot run`, set on
    the server it runs on), and a demo's activities and sign-ups must not show up there."""
    if args.database:
        return str(args.database)
    args.files.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(args.files / CONSOLE_DATABASE).resolve()}"


def _console(config: AppConfig, args: argparse.Namespace) -> int:
    from bot.offline.console import run_console

    url = console_database(args, dict(os.environ))
    _console_logging(args.log or args.files / "console.log", _database_secrets(url))
    storage = config.storage.model_copy(update={"url": url})
    config = config.model_copy(update={"storage": storage})
    return asyncio.run(
        run_console(
            lambda: build_services(config),
            args.user_id,
            args.lang,
            files=args.files,
            organiser=args.organiser,
            database=safe_url(url),
        )
    )


def _console_logging(log_file: Path, secrets: list[str]) -> None:
    """The console's chat stays clean: logs go to a file; only errors also to stderr."""
    setup_logging(level=os.environ.get("MAO_LOG_LEVEL", "INFO"), secrets=secrets)
    root = logging.getLogger()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    for handler in root.handlers:
        to_file.setFormatter(handler.formatter)
        for log_filter in handler.filters:
            to_file.addFilter(log_filter)
        handler.setLevel(logging.ERROR)
    root.addHandler(to_file)


def _faq_match(config: AppConfig, as_json: bool) -> int:
    _, matcher = build_faq(config)
    for line in sys.stdin:
        question = line.rstrip("\n")
        if not question.strip():
            continue
        result = matcher.match(question)
        score = round(result.best.score, 1) if result.best else 0.0
        if as_json:
            record = {
                "question": question,
                "id": result.answer_id,
                "score": score,
                "band": str(result.band),
            }
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            matched = result.best if result.band is not Band.FALLBACK else None
            best = matched.entry_id if matched else "-"
            print(f"{result.band!s:8} {score:5.1f} {best:24} {question}", flush=True)
    return 0


def _faq_export(config: AppConfig, output: Path | None) -> int:
    """The additions organisers made in the chat, shaped like faq/content, to merge there."""
    from core.faq_live import additions_yaml
    from storage.faq_additions import all_additions

    database = Database(config.storage.url, config.storage.timeouts())
    database.upgrade()
    with database.session() as session:
        additions = all_additions(session)
    database.dispose()
    text, unknown = additions_yaml(load_faq(config.faq.content), additions)
    for entry_id in unknown:
        print(f"skipped: additions to {entry_id!r}, not in the FAQ content", file=sys.stderr)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"{len(additions)} additions written to {output}", file=sys.stderr)
    return 0


def _check_config(config: AppConfig, path: Path) -> int:
    content = load_faq(config.faq.content)
    if config.activities.file is not None and config.activities.file.exists():
        read_activity_file(config.activities.file)
    problems = [f"message catalogue: {p}" for p in Catalogue.load().problems()]
    if config.telegram.mode == "webhook":
        try:
            webhook_secret()
        except ConfigError as error:
            problems.append(str(error))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    for warning in config.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{path}: OK ({len(content.entries)} FAQ entries)")
    return 0


def _events_load(config: AppConfig, file: Path, force: bool = False) -> int:
    from bot.app import register_owed_kinds
    from storage.activities import (
        chat_conflicts,
        forget_chat_changes,
        read_activity_file,
        upsert_activities,
    )

    specs = read_activity_file(file).activities
    register_owed_kinds()  # a cancelled or moved activity owes notices
    services = build_services(config)
    services.db.upgrade()
    with services.db.session() as session:
        conflicts = chat_conflicts(session, specs, config.zone, config.reminders.offsets)
        keep: dict[str, set[str]] = {}
        for conflict in conflicts:
            keep.setdefault(conflict.slug, set()).add(conflict.field)
            print(
                f"{conflict.slug}: {conflict.field}: in chat {conflict.in_chat!s}, "
                f"in file {conflict.in_file!s}"
            )
        if force:
            forget_chat_changes(session, [spec.slug for spec in specs])
        report = upsert_activities(
            session,
            specs,
            config.zone,
            services.now(),
            config.reminders.offsets,
            config.reminders.join_link_before,
            keep=None if force else keep,
        )
    if conflicts:
        print(
            "  the file's values were applied (--force)"
            if force
            else "  kept as changed in the chat; use --force to apply the file's values"
        )
    print(
        f"{file}: {len(report.created)} new, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged"
    )
    for slug in report.cancelled:
        print(f"  {slug}: cancelled; attendees and waiting list will be told by the bot")
    return 0


def _events_list(config: AppConfig) -> int:
    from storage.activities import upcoming_activities

    services = build_services(config)
    services.db.upgrade()
    with services.db.session() as session:
        activities = upcoming_activities(session, services.now())
    for activity in activities:
        capacity = "∞" if activity.capacity is None else str(activity.capacity)
        start = activity.starts_at.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")
        print(
            f"{start}  {activity.slug:40} {activity.taken:>3}/{capacity:<4} "
            f"waiting {activity.waiting:<3} {activity.status}"
        )
    return 0


def _export(config: AppConfig, slug: str, fmt: str, separator: str | None = None) -> int:
    from storage.exports import attendees_csv
    from storage.registrations import export_records, export_registrations

    if separator is not None and len(separator) != 1:
        print("error: --separator must be one character, e.g. ';' or ','", file=sys.stderr)
        return 2
    services = build_services(config)
    services.db.upgrade()
    with services.db.session() as session:
        rows = export_registrations(session, slug)
    if rows is None:
        print(
            f"error: no activity with slug '{slug}' (see `mao-bot events list`)", file=sys.stderr
        )
        return 1
    if fmt == "json":
        print(json.dumps(export_records(rows, config.zone), ensure_ascii=False, indent=2))
    else:
        text = attendees_csv(rows, config.zone, separator or config.export.csv_separator)
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
    return 0


def _stats(config: AppConfig) -> int:
    """The figures of /stats, for a terminal (English, one line per item)."""
    from datetime import datetime

    from storage.statistics import statistics

    services = build_services(config)
    services.db.upgrade()
    with services.db.session() as session:
        figures = statistics(session, services.now(), config.zone)

    def day(moment: datetime) -> str:
        return moment.astimezone(config.zone).strftime("%Y-%m-%d")

    def average(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    users = figures.users
    print(
        f"users: {users.total} total, {users.active} active (30 days), "
        f"{users.opted_out} opted out of announcements, {users.blocked} blocked"
    )
    print("upcoming activities:")
    for item in figures.upcoming:
        capacity = "∞" if item.capacity is None else str(item.capacity)
        fill = "-" if item.fill_rate is None else f"{round(item.fill_rate * 100)}%"
        print(
            f"  {day(item.starts_at)}  {item.slug:40} {item.registered}/{capacity} "
            f"signed up ({fill}), waiting {item.waiting}"
        )
    print("past activities:")
    for past in figures.past:
        print(
            f"  {day(past.starts_at)}  {past.slug:40} present {past.present}, "
            f"absent {past.absent}, unknown {past.unknown}; feedback {past.feedback_count} "
            f"(average {average(past.feedback_average)})"
        )
    faq = figures.faq
    print(
        f"FAQ questions, 7 days: answered {faq.answered_7d}, 'did you mean' "
        f"{faq.suggested_7d}, not answered {faq.fallback_7d}; 30 days: answered "
        f"{faq.answered_30d}, 'did you mean' {faq.suggested_30d}, not answered "
        f"{faq.fallback_30d}"
    )
    print("announcements:")
    for broadcast in figures.broadcasts:
        tally = broadcast.tally
        print(
            f"  {day(broadcast.created_at)}  #{broadcast.broadcast_id} {broadcast.audience}: "
            f"delivered {tally.sent}, unconfirmed {tally.unconfirmed}, "
            f"blocked {tally.blocked}, failed {tally.failed}"
        )
    return 0


def _admin(config: AppConfig, action: str, telegram_id: int | None) -> int:
    """Organisers next to config's `admins`; they get the organiser menu at the next start."""
    from storage.organisers import add_organiser, remove_organiser, stored_organisers

    services = build_services(config)
    services.db.upgrade()
    with services.db.session() as session:
        if action == "list":
            stored = stored_organisers(session)
            for admin_id in sorted(config.admins):
                print(f"{admin_id}  (config.yaml admins)")
            for organiser_id in stored:
                if organiser_id not in config.admins:
                    print(f"{organiser_id}  (database; remove with `mao-bot admin remove`)")
            if not config.admins and not stored:
                print("no organisers yet: `mao-bot admin add <telegram-id>`")
            return 0
        assert telegram_id is not None
        if action == "add":
            added = add_organiser(session, telegram_id, services.now())
            print(
                f"{telegram_id} is now an organiser (/omroep, /deelnemers); their menu shows "
                "it from the bot's next start"
                if added
                else f"{telegram_id} was an organiser already"
            )
            return 0
        removed = remove_organiser(session, telegram_id)
    if removed:
        print(f"{telegram_id} is no longer an organiser")
    else:
        print(f"{telegram_id} was not in the database", file=sys.stderr)
    if config.is_admin(telegram_id):
        print(f"{telegram_id} is still in config.yaml `admins`: remove it there", file=sys.stderr)
        return 1
    return 0 if removed else 1


def _block(config: AppConfig, action: str, target: str) -> int:
    """Organisers stop (or allow again) what one person sends to the programme office."""
    from storage.blocks import block_user, blocked_users, unblock_user

    if target != "list" and not (target.isascii() and target.lstrip("-").isdecimal()):
        print(f"error: '{target}' is not a Telegram user id (a number) or 'list'", file=sys.stderr)
        return 2
    services = build_services(config)
    services.db.upgrade()
    with services.db.session() as session:
        if target == "list":
            blocked = blocked_users(session)
            for telegram_id, since in blocked:
                moment = since.astimezone(config.zone)
                print(f"{telegram_id}  blocked since {moment:%Y-%m-%d %H:%M}")
            if not blocked:
                print("nobody is blocked")
            return 0
        telegram_id = int(target)
        if action == "block":
            done = block_user(session, telegram_id, services.now())
            print(
                f"{telegram_id} is blocked: their questions, stories, bottlenecks and replies "
                "no longer reach the programme office (they are told so, politely)"
                if done
                else f"{telegram_id} was blocked already"
            )
            return 0
        done = unblock_user(session, telegram_id)
    print(
        f"{telegram_id} may write to the programme office again"
        if done
        else f"{telegram_id} was not blocked"
    )
    return 0 if done else 1


def main(argv: Sequence[str] | None = None) -> int:
    # Opt in to PTB's timedelta durations (RetryAfter.retry_after) before they become the
    # default, so the rate limiter does not warn on every 429.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    args = _parser().parse_args(argv)
    try:
        config = _load(args)
        if args.command == "run":
            return _run(config)
        if args.command == "console":
            return _console(config, args)
        if args.command == "faq" and args.faq_command == "export":
            return _faq_export(config, args.output)
        if args.command == "faq":
            return _faq_match(config, args.json)
        if args.command == "check-config":
            return _check_config(config, config_path(explicit=args.config))
        if args.command == "events" and args.events_command == "load":
            return _events_load(config, args.file, args.force)
        if args.command == "events":
            return _events_list(config)
        if args.command == "export":
            return _export(config, args.slug, args.format, args.separator)
        if args.command == "stats":
            return _stats(config)
        if args.command == "admin":
            return _admin(config, args.admin_command, getattr(args, "telegram_id", None))
        if args.command in ("block", "unblock"):
            return _block(config, args.command, str(args.telegram_id))
        if args.command == "db":
            setup_logging(secrets=_database_secrets(os.environ.get("DATABASE_URL", "")))
            Database(config.storage.url, config.storage.timeouts()).upgrade()
            return 0
    except (ConfigError, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ActivityFileError as error:
        print(f"error in activities:\n{error}", file=sys.stderr)
        return 1
    except FaqContentError as error:
        print(f"error in FAQ content:\n{error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        # A read-only file, a full disk, an unreachable server: one line, no traceback.
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        print(f"error: database {safe_url(config.storage.url)}: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
