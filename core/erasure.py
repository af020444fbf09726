"""What remains to do after /vergeetmij deleted a person's rows (storage/privacy.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from core.faq_live import refresh_matcher
from storage.privacy import Erasure

if TYPE_CHECKING:
    from core.services import Services


async def forget_traces(services: Services, erased: Erasure) -> None:
    """The deleted rows out of SQLite's write-ahead log (Database.checkpoint), and a FAQ
    phrasing in the person's words out of the matcher and the index cache."""
    await asyncio.to_thread(services.db.checkpoint)
    if erased.faq_additions:
        await refresh_matcher(services)
