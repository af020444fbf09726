"""An on-disk cache for built FAQ matchers, so a start does not build the index again.

Entries are pickles named after a key that hashes everything the build depends on: the
content, the thresholds and the matcher's own source code (`code_version`), so a changed file
or a new release never reads a stale index. The cache is an optimisation only: a directory that
cannot be created or written, a file that is truncated or corrupt, or a pickle of another
version all make `load` return None and the caller builds as if there were no cache.

The directory is $MAO_CACHE_DIR, else $XDG_CACHE_HOME/mao-bot, else ~/.cache/mao-bot. It holds
files only this program writes, for the user it runs as (pickles are code: never point
MAO_CACHE_DIR at a directory that others can write).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["cache_dir", "cache_key", "code_version", "load", "store"]

CACHE_ENV = "MAO_CACHE_DIR"
# Bumped when the pickled layout changes in a way the code hash would not show.
_FORMAT = b"mao-faq-index/1\n"
_SUFFIX = ".faqindex"
# Old entries (earlier content, organisers' earlier additions) are pruned beyond this many.
_KEEP = 16
_SOURCES = ("cache.py", "matching.py", "content.py")


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mao-bot"


def code_version() -> str:
    """A hash of the source of the modules whose objects are pickled."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        try:
            digest.update(name.encode() + b"\0" + (here / name).read_bytes())
        except OSError:
            digest.update(name.encode() + b"\0missing")
    return digest.hexdigest()


def cache_key(*parts: str) -> str:
    digest = hashlib.sha256(_FORMAT)
    for part in (*parts, code_version()):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _path(key: str, directory: Path | None) -> Path:
    return (directory or cache_dir()) / f"{key}{_SUFFIX}"


def load(key: str, directory: Path | None = None) -> object | None:
    """The object stored under `key`, or None (absent, unreadable, corrupt)."""
    path = _path(key, directory)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    if not data.startswith(_FORMAT):
        logger.warning("FAQ index cache %s has an unknown format; rebuilding", path)
        return None
    try:
        value: object = pickle.loads(data[len(_FORMAT) :])
    except Exception:  # a truncated or foreign pickle can raise nearly anything
        logger.warning("FAQ index cache %s is unreadable; rebuilding", path, exc_info=True)
        return None
    return value


def store(key: str, value: object, directory: Path | None = None) -> bool:
    """Write `value` under `key` atomically; False (and a log line) when that is not possible."""
    path = _path(key, directory)
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _FORMAT + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        # Another process writing the same key at once writes the same bytes: last one wins.
        os.replace(temporary, path)
        temporary = None
    except (OSError, pickle.PicklingError, RecursionError) as error:
        logger.info("FAQ index cache not written to %s: %s", path.parent, error)
        return False
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    _prune(path.parent)
    return True


def _prune(directory: Path) -> None:
    try:
        files = sorted(
            directory.glob(f"*{_SUFFIX}"), key=lambda f: f.stat().st_mtime, reverse=True
        )
        for stale in files[_KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
