"""Who is an organiser: config's `admins`, or added with `mao-bot admin add`.

Checked again for every organiser action, buttons included: callback data is never
trusted for authorisation.
"""

from __future__ import annotations

from core.services import Services
from storage.organisers import is_stored_organiser


def is_organiser(services: Services, telegram_id: int) -> bool:
    if services.config.is_admin(telegram_id):
        return True
    with services.db.session() as session:
        return is_stored_organiser(session, telegram_id)


async def may_be_organiser(services: Services, telegram_id: int) -> bool:
    """For what only adds to an answer (the organisers' part of /help): through the
    database seam, and False while the database is away."""
    if services.config.is_admin(telegram_id):
        return True
    return await services.db.read_or(False, is_stored_organiser, telegram_id)
