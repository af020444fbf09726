"""Deep links into the bot (t.me/<bot>?start=<payload>) and their QR codes: one format."""

from __future__ import annotations

from io import BytesIO

import segno


def start_link(bot_username: str, payload: str) -> str:
    """Opens a private chat with the bot, which then receives "/start <payload>"."""
    return f"https://t.me/{bot_username}?start={payload}"


def signup_link(bot_username: str, slug: str) -> str:
    return start_link(bot_username, f"signup_{slug}")


def checkin_link(bot_username: str, code: str) -> str:
    return start_link(bot_username, f"checkin_{code}")


def qr_png(url: str) -> bytes:
    """A QR code to print or show on a screen; medium error correction survives a crease."""
    buffer = BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8)
    return buffer.getvalue()
