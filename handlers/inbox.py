"""The inbox: hand-over to the programme office, stories and bottlenecks.

(Interface used by handlers/faq.py; the rest is being built.)"""

from __future__ import annotations

from collections.abc import Sequence

from core import callbacks
from core.context import Handlers, MaoContext
from core.keyboards import Button

UNANSWERED_KEY = "unanswered"


def handover_button(context: MaoContext) -> Button:
    """ "Stel je vraag aan het programmabureau": offered by the fallback and "Geen van deze"."""
    return (context.text("inbox_ask_button"), callbacks.INBOX_ASK.data())


def remember_unanswered(context: MaoContext, question: str, guesses: Sequence[str]) -> None:
    """The question the FAQ could not answer, kept (in the persisted user data) until the
    user decides whether to hand it over."""
    if context.user_data is not None:
        context.user_data[UNANSWERED_KEY] = {"question": question, "guesses": list(guesses)}


def build_handlers() -> Handlers:
    return []
