"""The recipient on the confirmation page: recognisable to its owner, useless to a stranger."""

from __future__ import annotations

import pytest

from linkserver.rendering import masked_recipient


@pytest.mark.parametrize(
    ("recipient", "shown"),
    [
        ("anna@example.com", "a…@example.com"),
        ("a@example.com", "a…@example.com"),
        ("first.last+tag@mail.example.org", "f…@mail.example.org"),
        ('"odd@local"@example.com', '"…@example.com'),  # the last @ splits off the domain
        ("anna.berg", "a…"),  # a user id
        ("@example.com", "@…"),  # no local part: nothing to keep but the first character
        ("anna@", "a…"),
        (None, None),
        ("", None),
    ],
)
def test_masked_recipient(recipient: str | None, shown: str | None) -> None:
    assert masked_recipient(recipient) == shown
