"""Callback data: builders and patterns agree, and nothing over Telegram's 64 bytes is made."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import callbacks
from core.callbacks import MAX_BYTES, CallbackFormat

FORMATS = {
    name: value for name, value in vars(callbacks).items() if isinstance(value, CallbackFormat)
}


def test_every_format_is_unambiguous() -> None:
    templates = [f.template for f in FORMATS.values()]
    assert len(templates) == len(set(templates))


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_ids_round_trip(number: int) -> None:
    data = callbacks.OFFER_CLAIM.data(registration=number)
    assert callbacks.OFFER_CLAIM.parse(data) == {"registration": str(number)}
    assert callbacks.OFFER_DECLINE.parse(data) is None
    assert len(data.encode()) <= MAX_BYTES


def test_a_value_the_pattern_refuses_is_never_built() -> None:
    with pytest.raises(ValueError, match="does not match"):
        callbacks.SIGNUP_ROLE.data(role="admin")
    with pytest.raises(ValueError, match="does not match"):
        callbacks.MINE_CANCEL.data(registration="1:2")


def test_data_over_64_bytes_is_refused() -> None:
    long_slug = CallbackFormat("x:{slug}", {"slug": r"[a-z-]{1,100}"})
    assert long_slug.data(slug="a" * 62) == "x:" + "a" * 62
    with pytest.raises(ValueError, match="64 bytes"):
        long_slug.data(slug="a" * 63)


def test_the_longest_faq_id_fits() -> None:
    assert len(callbacks.FAQ_PICK.data(entry="a" * 51).encode()) <= MAX_BYTES
