"""What an issue-token task completes with, including the optional String link map."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from tests.support.keys import SIGNING_KEYS
from tokenstore.model import IssuedGroup
from tokenstore.tokens import Keyring, mint
from tokenstore.types import GroupId
from tokenstore.variables import MAX_STRING_UTF16_UNITS, TypedValue
from worker.errors import ModelingError
from worker.parsing import MAX_ACTIONS, OutputNames
from worker.topics import check_links_text_fits, issue_outputs, link_url

PUBLIC_URL = "https://links.example.test"
ISSUED = IssuedGroup(
    group_id=GroupId(uuid.UUID(int=7)),
    expires_at=dt.datetime(2026, 12, 5, tzinfo=dt.UTC),
    tokens={"approve": "k1.aaa.bbb", "deny": "k1.ccc.ddd"},
    reissued=False,
)


def test_by_default_the_link_map_is_json_only() -> None:
    variables = issue_outputs(OutputNames(), ISSUED, ["approve", "deny"], PUBLIC_URL)
    assert variables["actionLinks"].type == "Json"
    assert set(variables) == {
        "actionLinks",
        "actionLinksExpireAt",
        "actionLinkGroupId",
        "link_approve",
        "link_deny",
    }


def test_a_named_string_variable_holds_the_same_map_as_text() -> None:
    outputs = OutputNames(links_text="actionLinksText")
    variables = issue_outputs(outputs, ISSUED, ["approve", "deny"], PUBLIC_URL)
    text = variables["actionLinksText"]
    assert text == TypedValue("String", variables["actionLinks"].value)
    assert json.loads(str(text.value)) == {
        "approve": f"{PUBLIC_URL}/l/k1.aaa.bbb",
        "deny": f"{PUBLIC_URL}/l/k1.ccc.ddd",
    }


def test_a_map_of_real_links_fits_a_string_for_ordinary_tasks() -> None:
    url_chars = len(link_url(PUBLIC_URL, mint(Keyring.parse(SIGNING_KEYS)).token))
    check_links_text_fits(["approve", "deny"], url_chars, "actionLinksText")


def test_a_map_too_long_for_a_string_variable_is_refused_before_issuing() -> None:
    names = [f"action-number-{i:02d}-with-a-rather-long-name" for i in range(MAX_ACTIONS)]
    with pytest.raises(ModelingError) as caught:
        check_links_text_fits(names, 200, "actionLinksText")
    assert caught.value.detail is not None
    assert f"more than the {MAX_STRING_UTF16_UNITS}" in caught.value.detail
    assert "actionLinksText" in caught.value.detail
