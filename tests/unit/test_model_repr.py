from __future__ import annotations

import datetime as dt
import uuid

from tokenstore.model import IssuedGroup
from tokenstore.types import GroupId

TOKENS = {"approve": "k1.c2VjcmV0LWFwcHJvdmU", "deny": "k1.c2VjcmV0LWRlbnk"}


def test_issued_group_repr_shows_no_token() -> None:
    issued = IssuedGroup(
        group_id=GroupId(uuid.uuid4()),
        expires_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        tokens=TOKENS,
        reissued=False,
    )
    # A failed assertion prints the repr into CI logs, where a live token must never land.
    for shown in (repr(issued), str(issued)):
        assert str(issued.group_id) in shown
        for action, token in TOKENS.items():
            assert token not in shown
            assert action not in shown
