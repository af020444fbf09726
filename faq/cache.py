"""An on-disk cache for built FAQ matchers, so a start does not build the index again.

Entries are named after a key that hashes everything the build depends on: the content, the
thresholds and the matcher's own source code (`code_version`), so a changed file or a new
release never reads a stale index. The cache is an optimisation only: a directory that cannot
be created or written, a file that is truncated or corrupt, or one of another version all make
`load` return None and the caller builds as if there were no cache.

A file holds data only, never code: one numpy `.npz` (read with `allow_pickle=False`) of
plain arrays, one of which is UTF-8 JSON describing the objects. Only the classes the caller
names (`kinds`) are rebuilt from it, by setting their attributes; nothing in the file is
called. A file that is not this program's own (another owner, writable by group or others, a
symbolic link) is ignored and logged, so a file planted in the folder cannot even feed the
matcher wrong data.

The directory is $MAO_CACHE_DIR, else $XDG_CACHE_HOME/mao-bot, else ~/.cache/mao-bot.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["cache_dir", "cache_key", "clear", "code_version", "load", "store"]

CACHE_ENV = "MAO_CACHE_DIR"
# Bumped when the stored layout changes in a way the code hash would not show.
_FORMAT = b"mao-faq-index/2\n"
_SUFFIX = ".faqindex"
# Old entries (earlier content, organisers' earlier additions) are pruned beyond this many.
_KEEP = 16
_SOURCES = ("cache.py", "matching.py", "content.py")
_SCALARS = (str, int, float, bool, type(None))


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mao-bot"


def code_version() -> str:
    """A hash of the source of the modules whose objects are stored."""
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


class _UnstorableError(TypeError):
    """A value of a type the cache does not store (the caller then simply builds)."""


class _Encoder:
    """Turns a value into JSON plus arrays: every array goes into one pool per dtype."""

    def __init__(self, kinds: Mapping[str, type]) -> None:
        self.names = {kind: name for name, kind in kinds.items()}
        self.pools: dict[str, list[np.ndarray[Any, Any]]] = {}
        self.sizes: dict[str, int] = {}

    def encode(self, value: object) -> object:
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, np.ndarray):
            return ["a", self._array(value)]
        if isinstance(value, list | tuple | set | frozenset):
            tag = {list: "l", tuple: "t", set: "s", frozenset: "f"}[type(value)]
            if all(isinstance(item, _SCALARS) for item in value):
                return [tag.upper(), list(value)]
            return [tag, [self.encode(item) for item in value]]
        if isinstance(value, dict):
            if all(isinstance(key, str) for key in value):
                if all(isinstance(item, _SCALARS) for item in value.values()):
                    return ["D", value]
                return ["d", {key: self.encode(item) for key, item in value.items()}]
            return ["p", [[self.encode(k), self.encode(v)] for k, v in value.items()]]
        name = self.names.get(type(value))
        if name is None:
            raise _UnstorableError(f"not stored in the FAQ index cache: {type(value).__name__}")
        state = value.__getstate__()
        if state is None:
            state = {}
        if not isinstance(state, dict):
            raise _UnstorableError(f"{name}: state is not a dict")
        return ["o", [name, self.encode(state)]]

    def _array(self, array: np.ndarray[Any, Any]) -> list[object]:
        if array.dtype.hasobject:
            raise _UnstorableError("an array of objects")
        dtype = array.dtype.str
        flat = np.ascontiguousarray(array).reshape(-1)
        offset = self.sizes.get(dtype, 0)
        self.pools.setdefault(dtype, []).append(flat)
        self.sizes[dtype] = offset + flat.size
        return [dtype, list(array.shape), offset]

    def arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        return {f"pool{n}": np.concatenate(parts) for n, parts in enumerate(self.pools.values())}

    def pool_names(self) -> dict[str, str]:
        return {dtype: f"pool{n}" for n, dtype in enumerate(self.pools)}


class _Decoder:
    """The reverse of _Encoder; anything unexpected raises ValueError (the file is ignored)."""

    def __init__(self, kinds: Mapping[str, type], pools: dict[str, np.ndarray[Any, Any]]) -> None:
        self.kinds = kinds
        self.pools = pools

    def decode(self, value: object) -> object:
        if isinstance(value, _SCALARS):
            return value
        if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
            raise ValueError("not an encoded value")
        tag, payload = value
        if tag in ("L", "T", "S", "F", "D"):
            return {"L": list, "T": tuple, "S": set, "F": frozenset, "D": dict}[tag](payload)
        if tag in ("l", "t", "s", "f"):
            items = [self.decode(item) for item in payload]
            return {"l": list, "t": tuple, "s": set, "f": frozenset}[tag](items)
        if tag == "d":
            return {key: self.decode(item) for key, item in payload.items()}
        if tag == "p":
            return {self._key(k): self.decode(v) for k, v in payload}
        if tag == "a":
            dtype, shape, offset = payload
            pool = self.pools[dtype]
            size = math.prod(shape)
            if not 0 <= offset <= offset + size <= pool.size:
                raise ValueError("array out of bounds")
            return pool[offset : offset + size].reshape(shape)
        if tag == "o":
            name, encoded = payload
            kind = self.kinds.get(name)
            if kind is None:
                raise ValueError(f"unknown kind {name!r}")
            state = self.decode(encoded)
            if not isinstance(state, dict):
                raise ValueError("object state is not a dict")
            instance: object = object.__new__(kind)
            setstate = getattr(instance, "__setstate__", None)
            if setstate is not None:
                setstate(state)
            else:
                # object.__setattr__: frozen dataclasses are rebuilt the way pickle does it.
                for attribute, item in state.items():
                    object.__setattr__(instance, attribute, item)
            return instance
        raise ValueError(f"unknown tag {tag!r}")

    def _key(self, encoded: object) -> object:
        key = self.decode(encoded)
        if isinstance(key, list | dict | set):
            raise ValueError("unhashable key")
        return key


def _encode(value: object, kinds: Mapping[str, type]) -> bytes:
    encoder = _Encoder(kinds)
    tree = encoder.encode(value)
    document = json.dumps(
        {"format": _FORMAT.decode().strip(), "pools": encoder.pool_names(), "value": tree},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    buffer = io.BytesIO()
    arrays = encoder.arrays()
    arrays["document"] = np.frombuffer(document.encode("utf-8"), dtype=np.uint8)
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _decode(data: bytes, kinds: Mapping[str, type]) -> object:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    # A member that is no .npy array comes back as raw bytes: never ours.
    if any(not isinstance(array, np.ndarray) for array in arrays.values()):
        raise ValueError("a member is not an array")
    if arrays.get("document", np.zeros(0)).dtype != np.uint8:
        raise ValueError("no document")
    document = json.loads(arrays.pop("document").tobytes().decode("utf-8"))
    if document.get("format") != _FORMAT.decode().strip():
        raise ValueError("another format")
    pools = {dtype: arrays[name] for dtype, name in document["pools"].items()}
    return _Decoder(kinds, pools).decode(document["value"])


def _read_own_file(path: Path) -> bytes | None:
    """The file's bytes if it is a regular file of this user that only they can write."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        logger.warning("FAQ index cache %s ignored: %s", path, error)
        return None
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(file.fileno())
        geteuid = getattr(os, "geteuid", None)
        if not stat.S_ISREG(status.st_mode):
            problem = "not a regular file"
        elif geteuid is not None and status.st_uid != geteuid():
            problem = f"owned by user {status.st_uid}, not by this one ({geteuid()})"
        elif status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            problem = f"writable by others (mode {stat.S_IMODE(status.st_mode):o})"
        else:
            return file.read()
    logger.warning("FAQ index cache %s ignored: %s; rebuilding", path, problem)
    return None


def load(
    key: str, directory: Path | None = None, *, kinds: Mapping[str, type] | None = None
) -> object | None:
    """The value stored under `key`, or None (absent, unreadable, corrupt, not our own).
    `kinds` names the only classes that may be rebuilt from the file."""
    path = _path(key, directory)
    data = _read_own_file(path)
    if data is None:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    try:
        return _decode(data, kinds or {})
    except Exception:  # a damaged file can raise nearly anything; none of it runs code
        logger.warning("FAQ index cache %s is unreadable; rebuilding", path)
        return None


def store(
    key: str,
    value: object,
    directory: Path | None = None,
    *,
    kinds: Mapping[str, type] | None = None,
) -> bool:
    """Write `value` under `key` atomically; False (and a log line) when that is not possible."""
    path = _path(key, directory)
    temporary: str | None = None
    try:
        data = _encode(value, kinds or {})
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp makes the file readable and writable by this user only.
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        # Another process writing the same key at once writes the same bytes: last one wins.
        os.replace(temporary, path)
        temporary = None
    except (OSError, _UnstorableError, RecursionError) as error:
        logger.info("FAQ index cache not written to %s: %s", path.parent, error)
        return False
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    _prune(path.parent)
    return True


def clear(directory: Path | None = None) -> int:
    """Remove every entry (and any half-written one). An index holds the words of the FAQ
    additions it was built with: when one is erased (/vergeetmij), no file may keep it.
    Returns how many files went; the next start builds the index again."""
    folder = directory or cache_dir()
    removed = 0
    for pattern in (f"*{_SUFFIX}", "*.tmp"):
        try:
            found = list(folder.glob(pattern))
        except OSError:
            continue
        for path in found:
            try:
                path.unlink()
                removed += 1
            except OSError as error:
                logger.warning("FAQ index cache %s not removed: %s", path, error)
    return removed


def _prune(directory: Path) -> None:
    try:
        files = sorted(
            directory.glob(f"*{_SUFFIX}"), key=lambda f: f.stat().st_mtime, reverse=True
        )
        for stale in files[_KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
