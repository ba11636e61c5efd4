"""The JSON a bot reads about a link: details, language, time zone and the typed-in answer."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import jsonschema

from linkserver.openapi import OPENAPI
from linkserver.presentation import describe
from tests.support.builders import NOW, group, link
from tokenstore.model import Answer, Detail, LinkView
from tokenstore.types import LinkId, LinkState, RedemptionId, RedemptionState
from tokenstore.variables import TypedValue

DETAILS = (
    Detail("Amount", 4800),
    Detail("Requester", "<b>Anna</b>"),
    Detail("Urgent", False),
    Detail("Rate", 0.5),
    Detail("Cost centre", None),
)
SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer"},
        "note": {"type": "string"},
        "by": {"type": "string"},
    },
}


def answer(schema: dict[str, Any] | None, **variables: TypedValue) -> Answer:
    return Answer(
        redemption_id=RedemptionId(uuid.uuid4()),
        link_id=LinkId(uuid.uuid4()),
        action="other",
        label="Other amount",
        answered_at=NOW,
        state=RedemptionState.DELIVERED,
        variables=variables,
        input_schema=schema,
    )


def link_schema() -> dict[str, Any]:
    """The Link schema of the OpenAPI document, its $refs resolvable."""
    return {**OPENAPI["components"]["schemas"]["Link"], "components": OPENAPI["components"]}


def test_typed_in_values_are_the_schema_properties_in_schema_order() -> None:
    given = answer(
        SCHEMA,
        choice=TypedValue("String", "other"),  # bound by the model: not typed in
        by=TypedValue("String", "Anna"),
        amount=TypedValue("Integer", 35),
    )
    assert list(given.typed_in().items()) == [
        ("amount", TypedValue("Integer", 35)),
        ("by", TypedValue("String", "Anna")),
    ]


def test_an_answer_without_a_form_typed_nothing_in() -> None:
    assert answer(None, approved=TypedValue("Boolean", True)).typed_in() == {}
    assert answer({"type": "object"}, approved=TypedValue("Boolean", True)).typed_in() == {}


def test_details_locale_and_time_zone_are_described_in_order_with_their_types() -> None:
    pinned = dataclasses.replace(
        group(), details=DETAILS, locale="de-CH", time_zone="Europe/Zurich"
    )
    body = describe(LinkView(link(), pinned, None), NOW)
    assert body["details"] == [
        {"label": "Amount", "value": 4800},
        {"label": "Requester", "value": "<b>Anna</b>"},
        {"label": "Urgent", "value": False},
        {"label": "Rate", "value": 0.5},
        {"label": "Cost centre", "value": None},
    ]
    assert body["locale"] == "de-CH" and body["timeZone"] == "Europe/Zurich"
    # Plain JSON, as the API sends it, and what the OpenAPI document promises.
    jsonschema.validate(json.loads(json.dumps(body)), link_schema())


def test_a_group_without_them_says_so_plainly() -> None:
    body = describe(LinkView(link(), group(), None), NOW)
    assert body["details"] == [] and body["locale"] is None and body["timeZone"] is None
    jsonschema.validate(body, link_schema())


def test_the_answer_carries_what_was_typed_in() -> None:
    typed = answer(SCHEMA, amount=TypedValue("Integer", 35), choice=TypedValue("String", "x"))
    view = LinkView(link(LinkState.REDEEMED, schema=SCHEMA, uses=1), group(), typed)
    body = describe(view, NOW)
    assert body["answer"]["input"] == {"amount": 35}
    jsonschema.validate(body, link_schema())
    bound_only = answer(None, approved=TypedValue("Boolean", True))
    body = describe(LinkView(link(LinkState.REDEEMED, uses=1), group(), bound_only), NOW)
    assert body["answer"]["input"] == {}
