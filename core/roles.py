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
