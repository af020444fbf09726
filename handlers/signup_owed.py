"""The messages sign-up owes (handlers/signup.py, handlers/mine.py, the waiting list in
storage/registrations.py): the confirmation of a seat, a place on the waiting list, a seat
offered and its lapse, and the calendar file that goes with a seat (or its cancellation).

Each is written out at send time from the seat as it is then: a seat given up meanwhile is
not confirmed, an offer that lapsed is not made.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.activity_text import moment
from core.calendar import calendar_file
from core.context import MaoContext
from core.keyboards import keyboard, offer_buttons
from jobs.owed_kinds import Owed, OwedKind, Rendered
from jobs.owed_seats import held, load_seat, seat_ahead, seat_block
from storage.outbox import (
    DEFAULT_TRY_FOR,
    UNTIL_END,
    UNTIL_OFFER_LAPSES,
    UNTIL_START,
    OutboxKind,
    OwedMessage,
    Priority,
    lead_due_at,
    tried_for,
)
from storage.registrations import UserRegistration
from storage.vocabulary import RegistrationStatus

# A calendar file whose message is still on its way (another sender holds it) looks again
# this much later.
LEAD_GAP = timedelta(seconds=2)


def after_its_message(session: Session, message: OwedMessage, now: datetime) -> timedelta | None:
    """A calendar file waits for the message it belongs to, when that one was retried."""
    lead = lead_due_at(session, message)
    return None if lead is None else max(lead - now, LEAD_GAP)


def confirmation(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    if not seat_ahead(seat, owed.now):
        return None
    activity = seat.activity
    text = context.text("signup_done", title=activity.title(context.language))
    if activity.online_url:
        # The seat is what the link was kept back for (see core.activity_text.place).
        text += "\n\n" + context.text("signup_done_link", url=activity.online_url)
    return Rendered(text=text)


def promoted(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    if not seat_ahead(seat, owed.now):
        return None
    return Rendered(text=f"{context.text('notice_promoted')}\n\n{seat_block(context, seat)}")


def waitlisted(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    if not held(seat) or seat.status != RegistrationStatus.WAITING:
        return None
    title = seat.activity.title(context.language)
    return Rendered(text=context.text("signup_waiting", title=title, position=seat.position or 0))


def offered(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    expires = seat.offer_expires_at
    if (
        not held(seat)
        or seat.status != RegistrationStatus.OFFERED
        or expires is None
        or owed.now >= expires
    ):
        return None
    text = context.text("notice_offered", deadline=moment(expires, context))
    markup = keyboard(offer_buttons(seat.registration_id, context))
    return Rendered(text=f"{text}\n\n{seat_block(context, seat)}", markup=markup)


def offer_expired(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered:
    return Rendered(text=f"{context.text('notice_offer_expired')}\n\n{seat_block(context, seat)}")


def calendar(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    if not seat_ahead(seat, owed.now):
        return None
    # Written now: a file owed after a move carries the new time and a higher SEQUENCE.
    document = calendar_file(
        seat.activity,
        seat.registration_id,
        context,
        owed.now,
        seat_changed_at=seat.registered_at,
    )
    return Rendered(text=context.text("calendar_caption"), document=document)


def calendar_cancel(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    # Owed while the place stays given up (signed up again: the new file replaces it).
    if seat.status != RegistrationStatus.CANCELLED or owed.now >= seat.activity.ends_at:
        return None
    document = calendar_file(
        seat.activity,
        seat.registration_id,
        context,
        owed.now,
        seat_changed_at=seat.updated_at,
        cancel=True,
    )
    return Rendered(text=context.text("calendar_cancel_caption"), document=document)


# A person waits for each of these; an offer and its lapse only tell about a change. All
# are no use once the activity has started, except the lapse of an offer (told however late)
# and the removal of an event from the calendar (until the activity has ended).
OWED: tuple[OwedKind[UserRegistration], ...] = (
    OwedKind(OutboxKind.CONFIRMATION, Priority.PERSONAL, UNTIL_START, load_seat, confirmation),
    OwedKind(OutboxKind.PROMOTED, Priority.PERSONAL, UNTIL_START, load_seat, promoted),
    OwedKind(OutboxKind.WAITLISTED, Priority.PERSONAL, UNTIL_START, load_seat, waitlisted),
    OwedKind(OutboxKind.OFFERED, Priority.NOTICE, UNTIL_OFFER_LAPSES, load_seat, offered),
    OwedKind(
        OutboxKind.OFFER_EXPIRED,
        Priority.NOTICE,
        tried_for(DEFAULT_TRY_FOR),
        load_seat,
        offer_expired,
    ),
    # A file goes after the message it belongs to (see `after_its_message`); one that
    # follows a notice (a move, a cancelled activity) is owed at the notice's priority.
    OwedKind(
        OutboxKind.CALENDAR,
        Priority.PERSONAL,
        UNTIL_START,
        load_seat,
        calendar,
        hold=after_its_message,
    ),
    OwedKind(
        OutboxKind.CALENDAR_CANCEL,
        Priority.PERSONAL,
        UNTIL_END,
        load_seat,
        calendar_cancel,
        hold=after_its_message,
    ),
)
