"""Who is an organiser: config's `admins`, or added with `mao-bot admin add`.

Checked again for every organiser action, buttons included: callback data is never
trusted for authorisation.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from core.services import Services
from storage.organisers import is_stored_organiser, stored_organisers
from storage.users import get_user


def is_organiser(services: Services, telegram_id: int) -> bool:
    """Synchronous: never on the event loop (use `check_organiser` there)."""
    if services.config.is_admin(telegram_id):
        return True
    with services.db.session() as session:
        return is_stored_organiser(session, telegram_id)


async def check_organiser(services: Services, telegram_id: int) -> bool:
    """Whether they are an organiser, through the database seam. While the database is away
    this raises (an outage): a wrong "no" would take an organiser's tools away."""
    if services.config.is_admin(telegram_id):
        return True
    return await services.db.run_reading(is_stored_organiser, telegram_id)


async def may_be_organiser(services: Services, telegram_id: int) -> bool:
    """For what only adds to an answer (the organisers' part of /help): through the
    database seam, and False while the database is away."""
    if services.config.is_admin(telegram_id):
        return True
    return await services.db.read_or(False, is_stored_organiser, telegram_id)


def organiser_languages(session: Session, admins: Iterable[int], default: str) -> dict[int, str]:
    """Every organiser (config's and the stored ones), each with the language they chose."""
    organisers = sorted({*admins, *stored_organisers(session)})
    languages: dict[int, str] = {}
    for organiser in organisers:
        user = get_user(session, organiser)
        languages[organiser] = (user.language if user else None) or default
    return languages
