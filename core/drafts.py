"""Keys of drafts kept in the persisted user data that more than their own flow reads:
/mijngegevens shows a sign-up in progress, /vergeetmij erases it."""

from __future__ import annotations

# The sign-up in progress (handlers/signup.py: SignupDraft).


SIGNUP_DRAFT = "signup"
