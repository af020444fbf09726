"""Durations as organisers write them in config and activity files: 90s, 15m, 2h, 2d or ISO."""

from __future__ import annotations

import re
from datetime import timedelta

_SHORT = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_ISO = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '2h', '2d', '1w' or ISO-8601 ('PT2H', 'P2D')."""
    short = _SHORT.match(text)
    if short:
        return timedelta(**{_UNITS[short.group(2)]: int(short.group(1))})
    iso = _ISO.match(text.strip().upper())
    if iso and any(iso.groupdict().values()):
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        return timedelta(
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    raise ValueError(f"'{text}' is not a duration (write e.g. 90s, 15m, 2h, 2d or PT2H)")
