"""The ``POST /message`` body that delivers an answer: its target (process instance, business
key, correlation keys), the tenant rule and the variables that mark the answer."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from linkserver.camunda import correlation_body
from tests.support.builders import NOW
from tokenstore.model import Delivery
from tokenstore.types import CorrelateBy, GroupId, LinkId, ProcessInstanceId, RedemptionId
from tokenstore.variables import TypedValue

REDEMPTION = RedemptionId(uuid.UUID("0123456789abcdef0123456789abcdef"))
# The variables the product sends with every answer (models and scripts rely on the names).
MARKS = {
    "actionLinkRedemptionId": {"type": "String", "value": "01234567-89ab-cdef-0123-456789abcdef"},
    "actionLinkAnswer_0123456789abcdef0123456789abcdef": {"type": "Boolean", "value": True},
}
TARGETS = {"processInstanceId", "businessKey", "correlationKeys", "tenantId", "withoutTenantId"}


def delivery(**changes: Any) -> Delivery:
    base = Delivery(
        redemption_id=REDEMPTION,
        link_id=LinkId(uuid.uuid4()),
        group_id=GroupId(uuid.uuid4()),
        message_name="decision",
        correlate_by=CorrelateBy.PROCESS_INSTANCE,
        process_instance_id=ProcessInstanceId("pi-1"),
        business_key="order-7",
        tenant_id=None,
        correlation_keys={},
        variables={
            "approved": TypedValue("Boolean", True),
            "amount": TypedValue("Integer", 125),
        },
        answered_at=NOW,
        attempts=1,
    )
    return dataclasses.replace(base, **changes)


def _target(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key in TARGETS}


def test_the_answer_and_its_marks_travel_as_typed_process_variables() -> None:
    body = correlation_body(delivery())
    assert body["messageName"] == "decision"
    assert body["resultEnabled"] is True
    assert body["processVariables"] == {
        "approved": {"type": "Boolean", "value": True},
        "amount": {"type": "Integer", "value": 125},
        **MARKS,
    }
    assert set(body) == {"messageName", "processVariables", "resultEnabled", "processInstanceId"}


@pytest.mark.parametrize(
    ("changes", "target"),
    [
        ({}, {"processInstanceId": "pi-1"}),
        # The engine refuses a tenant next to a process instance id: the instance implies it.
        ({"tenant_id": "acme"}, {"processInstanceId": "pi-1"}),
        (
            {"correlate_by": CorrelateBy.BUSINESS_KEY},
            {"businessKey": "order-7", "withoutTenantId": True},
        ),
        (
            {"correlate_by": CorrelateBy.BUSINESS_KEY, "tenant_id": "acme"},
            {"businessKey": "order-7", "tenantId": "acme"},
        ),
        (
            {
                "correlate_by": CorrelateBy.BUSINESS_KEY,
                "correlation_keys": {"orderId": TypedValue("String", "o-7")},
            },
            {
                "businessKey": "order-7",
                "correlationKeys": {"orderId": {"type": "String", "value": "o-7"}},
                "withoutTenantId": True,
            },
        ),
        (
            {
                "correlate_by": CorrelateBy.CORRELATION_KEYS,
                "correlation_keys": {
                    "orderId": TypedValue("String", "o-7"),
                    "line": TypedValue("Integer", 2),
                },
            },
            {
                "correlationKeys": {
                    "orderId": {"type": "String", "value": "o-7"},
                    "line": {"type": "Integer", "value": 2},
                },
                "withoutTenantId": True,
            },
        ),
        (
            {
                "correlate_by": CorrelateBy.CORRELATION_KEYS,
                "correlation_keys": {"orderId": TypedValue("String", "o-7")},
                "tenant_id": "acme",
            },
            {
                "correlationKeys": {"orderId": {"type": "String", "value": "o-7"}},
                "tenantId": "acme",
            },
        ),
        (
            {
                "correlation_keys": {"orderId": TypedValue("String", "o-7")},
                "tenant_id": "acme",
            },
            {
                "processInstanceId": "pi-1",
                "correlationKeys": {"orderId": {"type": "String", "value": "o-7"}},
            },
        ),
    ],
)
def test_the_target_of_the_message(changes: dict[str, Any], target: dict[str, Any]) -> None:
    body = correlation_body(delivery(**changes))
    assert _target(body) == target
    assert body["processVariables"] == {
        "approved": {"type": "Boolean", "value": True},
        "amount": {"type": "Integer", "value": 125},
        **MARKS,
    }


def test_an_answer_without_variables_still_carries_its_marks() -> None:
    assert correlation_body(delivery(variables={}))["processVariables"] == MARKS


def test_the_recipient_on_record_travels_with_the_answer() -> None:
    """The process learns who the links were sent to, as a plain String."""
    variables = correlation_body(delivery(recipient="anna@example.com"))["processVariables"]
    assert variables["actionLinkRecipient"] == {"type": "String", "value": "anna@example.com"}


def test_no_recipient_variable_when_the_model_named_nobody() -> None:
    assert "actionLinkRecipient" not in correlation_body(delivery())["processVariables"]
