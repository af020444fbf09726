"""The typed words of the domain: what an activity is, who it is for, where a sign-up stands.

StrEnums, so values compare equal to the strings stored in the database and in YAML.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    DIALOOG = "dialoog"
    MASTERCLASS = "masterclass"
    FIELDLAB = "fieldlab"
    WERKSESSIE = "werksessie"
    COMMUNITY_OF_PRACTICE = "community-of-practice"
    DOEN_DAG = "doen-dag"
    OVERIG = "overig"


class Audience(StrEnum):
    """Who an activity is for."""

    OUDERS = "ouders"
    PROFESSIONALS = "professionals"
    IEDEREEN = "iedereen"


class Status(StrEnum):
    """An activity's state."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class WaitlistMode(StrEnum):
    AUTO = "auto"
    OFFER = "offer"


class RegistrationStatus(StrEnum):
    REGISTERED = "registered"
    WAITING = "waiting"
    OFFERED = "offered"  # a freed seat is held for this person until the offer lapses
    CANCELLED = "cancelled"


# Statuses that hold a seat, and statuses of someone still involved with the activity.
SEAT_HOLDING = (RegistrationStatus.REGISTERED, RegistrationStatus.OFFERED)
ACTIVE = (RegistrationStatus.REGISTERED, RegistrationStatus.WAITING, RegistrationStatus.OFFERED)


class CancelReason(StrEnum):
    USER = "user"
    OFFER_EXPIRED = "offer_expired"
    ACTIVITY = "activity"  # the activity was cancelled: re-opening it tells these people


class Role(StrEnum):
    OUDER = "ouder"
    PROFESSIONAL = "professional"


class Sector(StrEnum):
    ONDERWIJS = "onderwijs"
    ZORG = "zorg"
    JEUGDHULP = "jeugdhulp"
    KINDEROPVANG = "kinderopvang"
    GEMEENTE = "gemeente"
    ANDERS = "anders"


class Recipients(StrEnum):
    """Who an organiser's announcement goes to."""

    EVERYONE = "everyone"
    ATTENDEES = "attendees"
    WAITING = "waiting"
    PARENTS = "parents"
    PROFESSIONALS = "professionals"

    @property
    def needs_activity(self) -> bool:
        return self in (Recipients.ATTENDEES, Recipients.WAITING)


class BroadcastStatus(StrEnum):
    SENDING = "sending"  # some of its messages are still owed
    DONE = "done"  # every message delivered, unconfirmed, blocked or failed
