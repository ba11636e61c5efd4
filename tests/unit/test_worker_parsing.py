"""issue-token and revoke-tokens inputs: what a modeler writes, what the worker makes of it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from tokenstore.types import CorrelateBy, ExternalTaskId, ProcessInstanceId
from tokenstore.variables import TypedValue
from worker.errors import ModelingError
from worker.parsing import (
    OutputNames,
    bind_correlation_keys,
    parse_issue,
    parse_revoke,
)
from worker.task import Task

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
ACTIONS = [
    {"name": "approve", "label": "Approve", "variables": {"approved": True}},
    {"name": "deny", "variables": {"approved": {"type": "Boolean", "value": False}}},
]


def string(value: str) -> dict[str, Any]:
    return {"type": "String", "value": value, "valueInfo": {}}


def task(business_key: str | None = "order-4711", **inputs: dict[str, Any]) -> Task:
    variables = {"messageName": string("decision"), "actions": string(json.dumps(ACTIONS))}
    variables.update(inputs)
    return Task(
        id=ExternalTaskId("task-1"),
        topic="issue-token",
        process_instance_id=ProcessInstanceId("pi-1"),
        activity_id="IssueLinks",
        process_definition_key="approval",
        business_key=business_key,
        tenant_id="tenant-a",
        variables={k: v for k, v in variables.items() if v},
    )


def test_defaults_and_task_fields() -> None:
    spec = parse_issue(task(), NOW)
    request = spec.request
    assert request.message_name == "decision"
    assert [a.name for a in request.actions] == ["approve", "deny"]
    assert [a.label for a in request.actions] == ["Approve", "deny"]  # label defaults to name
    assert request.actions[0].variables == {"approved": TypedValue("Boolean", True)}
    assert request.actions[1].variables == {"approved": TypedValue("Boolean", False)}
    assert request.actions[0].max_uses == 1
    assert request.ttl == dt.timedelta(days=7)
    assert request.exclusive is True
    assert request.correlate_by is CorrelateBy.PROCESS_INSTANCE
    assert (request.external_task_id, request.process_instance_id) == ("task-1", "pi-1")
    assert (request.tenant_id, request.business_key) == ("tenant-a", "order-4711")
    assert (request.process_definition_key, request.activity_id) == ("approval", "IssueLinks")
    assert spec.outputs == OutputNames()
    assert spec.correlation_key_names == ()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("anna@example.com", "anna@example.com"),
        ("  anna.berg  ", "anna.berg"),  # a user id, trimmed like every String input
        ("   ", None),  # an empty Modeler field names nobody
    ],
)
def test_recipient_is_kept_as_written(given: str, kept: str | None) -> None:
    assert parse_issue(task(recipient=string(given)), NOW).request.recipient == kept


def test_no_recipient_by_default() -> None:
    assert parse_issue(task(), NOW).request.recipient is None


def test_everything_set() -> None:
    actions = [
        {
            "name": "other",
            "label": "Other amount",
            "variables": {"currency": "USD", "amount_cents": {"type": "Long", "value": 20}},
            "input": {
                "type": "object",
                "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 500}},
                "required": ["amount"],
            },
            "maxUses": 3,
        }
    ]
    spec = parse_issue(
        task(
            actions={"type": "Json", "value": json.dumps(actions)},
            ttl=string("PT12H"),
            description=string("Top up"),
            exclusive=string("false"),
            correlateBy=string("correlationKeys"),
            correlationKeys=string("billId, customerId"),
            resultVariable=string("links"),
            linkVariablePrefix=string("url_"),
            expiresAtVariable=string("until"),
            groupIdVariable=string("gid"),
        ),
        NOW,
    )
    request = spec.request
    assert request.ttl == dt.timedelta(hours=12)
    assert request.description == "Top up"
    assert request.exclusive is False
    assert request.correlate_by is CorrelateBy.CORRELATION_KEYS
    assert spec.correlation_key_names == ("billId", "customerId")
    (action,) = request.actions
    assert action.max_uses == 3
    assert action.variables["amount_cents"] == TypedValue("Long", 20)
    assert action.input_schema is not None
    assert action.input_schema["additionalProperties"] is False
    assert spec.outputs == OutputNames("links", "url_", "until", "gid")
    assert spec.outputs.link_variable("other") == "url_other"


def test_actions_already_decoded_and_boolean_typed() -> None:
    spec = parse_issue(task(exclusive={"type": "Boolean", "value": False}), NOW)
    assert spec.request.exclusive is False
    plain = Task(
        id=ExternalTaskId("t"),
        topic="issue-token",
        process_instance_id=ProcessInstanceId("p"),
        activity_id="a",
        variables={"messageName": "decision", "actions": ACTIONS},  # type: ignore[dict-item]
    )
    assert [a.name for a in parse_issue(plain, NOW).request.actions] == ["approve", "deny"]


def test_null_inputs_mean_defaults() -> None:
    spec = parse_issue(task(ttl={"type": "Null", "value": None}, description=string("  ")), NOW)
    assert spec.request.ttl == dt.timedelta(days=7)
    assert spec.request.description is None


def test_months_count_from_now() -> None:
    # 28 November to 28 December
    assert parse_issue(task(ttl=string("P1M")), NOW).request.ttl == dt.timedelta(days=30)


def test_dashes_become_underscores_in_link_variables() -> None:
    actions = [{"name": "pay-now"}, {"name": "remind_me"}]
    spec = parse_issue(task(actions=string(json.dumps(actions))), NOW)
    assert spec.outputs.link_variable("pay-now") == "link_pay_now"


def _actions(*items: object) -> dict[str, Any]:
    return string(json.dumps(list(items)))


SCHEMA = {"type": "object", "properties": {"approved": {"type": "boolean"}}}

MISTAKES: list[tuple[str, dict[str, Any], str]] = [
    ("no message", {"messageName": {}}, "the input parameter messageName is required"),
    ("blank message", {"messageName": string(" ")}, "messageName is required"),
    (
        "message not text",
        {"messageName": {"type": "Long", "value": 1}},
        "messageName must be a String, not Long",
    ),
    ("no actions", {"actions": {}}, "the input parameter actions is required"),
    (
        "actions not json",
        {"actions": string("[{name: approve}]")},
        "actions is not valid JSON (Expecting property name enclosed in double quotes"
        " at line 1 column 3)",
    ),
    (
        "actions empty",
        {"actions": string("[]")},
        "actions must be a non-empty JSON list of objects",
    ),
    (
        "actions object",
        {"actions": string('{"name": "a"}')},
        "actions must be a non-empty JSON list",
    ),
    (
        "actions object type",
        {"actions": {"type": "Object", "value": "rO0AB"}},
        "actions must be a String holding JSON or a Json variable, not Object",
    ),
    (
        "action not object",
        {"actions": _actions("approve")},
        "action #1 must be a JSON object with a name",
    ),
    (
        "action without name",
        {"actions": _actions({"label": "Approve"})},
        "action #1: name None must be 1-40 letters, digits, _ or - (e.g. approve)",
    ),
    (
        "bad name",
        {"actions": _actions({"name": "yes please"})},
        "action #1: name 'yes please' must be 1-40",
    ),
    ("long name", {"actions": _actions({"name": "a" * 41})}, "must be 1-40 letters"),
    (
        "duplicate",
        {"actions": _actions({"name": "a"}, {"name": "b"}, {"name": "a"})},
        "action names must be unique; a repeats",
    ),
    (
        "typo key",
        {"actions": _actions({"name": "a", "lable": "A"})},
        "action 'a': unknown key 'lable' (use name, label, variables, input, maxUses)",
    ),
    (
        "empty label",
        {"actions": _actions({"name": "a", "label": " "})},
        "action 'a': label must be text of 1-200 characters",
    ),
    (
        "variables list",
        {"actions": _actions({"name": "a", "variables": [1]})},
        "action 'a': variables must be a JSON object",
    ),
    (
        "unknown type",
        {"actions": _actions({"name": "a", "variables": {"x": {"type": "Object", "value": "1"}}})},
        "action 'a': variable 'x': type 'Object';"
        " use one of String, Boolean, Integer, Long, Double, Date",
    ),
    (
        "nested value",
        {"actions": _actions({"name": "a", "variables": {"x": [1, 2]}})},
        "action 'a': variable 'x': list values are not allowed",
    ),
    (
        "bad variable name",
        {"actions": _actions({"name": "a", "variables": {"my var": 1}})},
        "action 'a': 'my var' is not a usable variable name",
    ),
    (
        "wrong typed value",
        {"actions": _actions({"name": "a", "variables": {"n": {"type": "Integer", "value": "x"}}})},
        "action 'a': variable 'n': 'x' is not an Integer",
    ),
    (
        "schema not schema",
        {
            "actions": _actions(
                {
                    "name": "a",
                    "input": {
                        "type": "object",
                        "properties": {"n": {"type": "integer", "minimum": "one"}},
                    },
                }
            )
        },
        "action 'a': input: the input schema is not valid JSON Schema",
    ),
    (
        "schema not object",
        {"actions": _actions({"name": "a", "input": {"type": "string"}})},
        'action \'a\': input: an input schema needs "type": "object" and "properties"',
    ),
    (
        "required not a property",
        {
            "actions": _actions(
                {"name": "a", "input": {**SCHEMA, "required": ["approved", "amout"]}}
            )
        },
        "action 'a': input: required field 'amout' is not a property",
    ),
    (
        "schema collision",
        {"actions": _actions({"name": "a", "variables": {"approved": True}, "input": SCHEMA})},
        "action 'a': input property 'approved' is also a bound variable",
    ),
    (
        "reserved variable",
        {"actions": _actions({"name": "a", "variables": {"actionLinkRedemptionId": "x"}})},
        "action 'a': 'actionLinkRedemptionId' starts with 'actionLink', which is reserved",
    ),
    (
        "max uses zero",
        {"actions": _actions({"name": "a", "maxUses": 0})},
        "action 'a': maxUses must be a whole number from 1 to 1000",
    ),
    (
        "max uses text",
        {"actions": _actions({"name": "a", "maxUses": "3"})},
        "maxUses must be a whole number",
    ),
    ("bad ttl", {"ttl": string("P7X")}, "ttl 'P7X' is not an ISO 8601 duration (e.g. P7D, PT12H)"),
    ("ttl number", {"ttl": {"type": "Long", "value": 7}}, "ttl must be a String, not Long"),
    ("ttl zero", {"ttl": string("PT0S")}, "ttl 'PT0S' must be longer than zero (e.g. P7D)"),
    ("ttl negative", {"ttl": string("-P1D")}, "must be longer than zero"),
    ("ttl huge", {"ttl": string("P100Y")}, "ttl 'P100Y' is longer than 366 days"),
    ("exclusive", {"exclusive": string("maybe")}, "exclusive must be true or false, not 'maybe'"),
    (
        "correlate by",
        {"correlateBy": string("email")},
        "correlateBy 'email' must be one of processInstance, businessKey, correlationKeys",
    ),
    (
        "keys missing",
        {"correlateBy": string("correlationKeys")},
        "correlateBy correlationKeys needs correlationKeys",
    ),
    (
        "keys without mode",
        {"correlationKeys": string("billId")},
        "correlationKeys is set, so set correlateBy to correlationKeys too",
    ),
    (
        "bad key",
        {"correlateBy": string("correlationKeys"), "correlationKeys": string("bill id")},
        "correlationKeys: 'bill id' is not a usable variable name",
    ),
    (
        "keys not names",
        {"correlateBy": string("correlationKeys"), "correlationKeys": string("[1]")},
        'correlationKeys must be names separated by commas or a JSON list ["a", "b"]',
    ),
    (
        "bad output",
        {"resultVariable": string("action links")},
        "resultVariable: 'action links' is not a usable variable name",
    ),
    (
        "output clash",
        {"groupIdVariable": string("actionLinks")},
        "two outputs would both be written to the variable actionLinks",
    ),
    ("link clash", {"resultVariable": string("link_approve")}, "variable link_approve"),
    (
        "bad prefix",
        {"linkVariablePrefix": string("9-")},
        "linkVariablePrefix + name: '9-approve' is not a usable variable name",
    ),
    (
        "bad string output",
        {"resultStringVariable": string("links text")},
        "resultStringVariable: 'links text' is not a usable variable name",
    ),
    (
        "string output clash",
        {"resultStringVariable": string("actionLinks")},
        "two outputs would both be written to the variable actionLinks",
    ),
    (
        "recipient list",
        {"recipient": string("anna@example.com, ben@example.com")},
        "recipient 'anna@example.com, ben@example.com' must be one address or user id",
    ),
    (
        "recipient too long",
        {"recipient": string("a" * 250 + "@x.io")},
        "recipient may hold at most 254 characters",
    ),
    ("recipient number", {"recipient": {"type": "Long", "value": 7}}, "recipient must be a String"),
    ("recipient control", {"recipient": string("an\x07na")}, "recipient may not contain control"),
]


@pytest.mark.parametrize("choice", ["processInstance", "businessKey"])
def test_keys_are_ignored_when_another_correlation_is_chosen(choice: str) -> None:
    # The element template always writes its keys field; the chosen style is what counts.
    spec = parse_issue(task(correlateBy=string(choice), correlationKeys=string("billId")), NOW)
    assert spec.request.correlate_by.value == choice
    assert spec.correlation_key_names == ()


def test_the_link_map_can_also_be_a_string_variable() -> None:
    assert parse_issue(task(), NOW).outputs.links_text is None
    assert parse_issue(task(resultStringVariable=string(" ")), NOW).outputs.links_text is None
    spec = parse_issue(task(resultStringVariable=string("linksText")), NOW)
    assert spec.outputs.links_text == "linksText"


@pytest.mark.parametrize(
    ("inputs", "message"), [(i, m) for _, i, m in MISTAKES], ids=[n for n, _, _ in MISTAKES]
)
def test_modeling_mistakes_say_what_to_fix(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelingError) as caught:
        parse_issue(task(**inputs), NOW)
    assert caught.value.detail is not None
    assert message in caught.value.detail


def test_business_key_mode_needs_a_business_key() -> None:
    assert (
        parse_issue(task(correlateBy=string("businessKey")), NOW).request.correlate_by
        is CorrelateBy.BUSINESS_KEY
    )
    with pytest.raises(ModelingError, match="this process instance has no business key"):
        parse_issue(task(business_key=None, correlateBy=string("businessKey")), NOW)


def test_bind_correlation_keys() -> None:
    spec = parse_issue(
        task(correlateBy=string("correlationKeys"), correlationKeys=string('["billId", "due"]')),
        NOW,
    )
    request = bind_correlation_keys(
        spec,
        {
            "billId": {"type": "String", "value": "B-1", "valueInfo": {}},
            "due": {"type": "Date", "value": "2026-12-01T09:00:00.000+0100", "valueInfo": {}},
        },
    )
    assert request.correlation_keys == {
        "billId": TypedValue("String", "B-1"),
        "due": TypedValue("Date", "2026-12-01T08:00:00.000+0000"),
    }
    with pytest.raises(ModelingError, match="correlation key 'due' has no value"):
        bind_correlation_keys(spec, {"billId": string("B-1"), "due": {"type": "Null"}})
    with pytest.raises(ModelingError, match="correlation key 'due': type 'Json'"):
        bind_correlation_keys(
            spec, {"billId": string("B-1"), "due": {"type": "Json", "value": "{}"}}
        )


def revoke_task(**inputs: dict[str, Any]) -> Task:
    return Task(
        id=ExternalTaskId("t"),
        topic="revoke-tokens",
        process_instance_id=ProcessInstanceId("p"),
        activity_id="Revoke",
        variables=inputs,
    )


def test_revoke_inputs() -> None:
    spec = parse_revoke(revoke_task())
    assert (spec.group_id, spec.actions, spec.result_variable) == (None, None, "revokedCount")
    group = uuid.uuid4()
    spec = parse_revoke(
        revoke_task(
            groupId=string(str(group)),
            actions=string("schedule, remind-me"),
            resultVariable=string("n"),
        )
    )
    assert (spec.group_id, spec.actions, spec.result_variable) == (
        group,
        ("schedule", "remind-me"),
        "n",
    )
    assert parse_revoke(revoke_task(actions=string('["a", "b"]'))).actions == ("a", "b")
    assert parse_revoke(revoke_task(actions=string(" "))).actions is None


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"groupId": string("nope")}, "groupId 'nope' is not a link group id"),
        ({"actions": string("[]")}, "actions is empty; leave it out to revoke every action"),
        ({"actions": string("a b")}, "actions: name 'a b' must be 1-40"),
        ({"resultVariable": string("1x")}, "resultVariable: '1x' is not a usable variable name"),
    ],
)
def test_revoke_mistakes(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelingError) as caught:
        parse_revoke(revoke_task(**inputs))
    assert message in (caught.value.detail or "")


def _schema(**prop: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"field": {"type": "string", **prop}}}


HOSTILE_MODELS = [
    (
        "deeply nested actions",
        {"actions": string("[" * 5000 + "]" * 5000)},
        "actions nests JSON more than 16 levels deep",
    ),
    (
        "nested deeper than any action",
        {"actions": string("[" * 20 + "]" * 20)},
        "actions nests JSON more than 16 levels deep",
    ),
    (
        "nested deeper than any action, already decoded",
        {"actions": {"type": "Json", "value": [[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}},
        "actions nests JSON more than 16 levels deep",
    ),
    ("NaN in actions", {"actions": string('[{"name": "a", "variables": {"x": NaN}}]')}, "NaN"),
    (
        "thousands of digits",
        {"actions": string('[{"name": "a", "variables": {"x": ' + "9" * 5000 + "}}]")},
        "actions is not usable JSON",
    ),
    (
        "NUL in a label",
        {"actions": _actions({"name": "a", "label": "Appro\u0000ve"})},
        "contains a NUL character",
    ),
    (
        "control character in a label",
        {"actions": _actions({"name": "a", "label": "Appro\u0007ve"})},
        "action 'a': label may not contain control characters",
    ),
    (
        "NUL in a schema title",
        {"actions": _actions({"name": "a", "input": _schema(title="x\u0000")})},
        "contains a NUL character",
    ),
    (
        "lone surrogate in a bound variable",
        {"actions": _actions({"name": "a", "variables": {"note": "x\ud800"}})},
        "contains lone surrogates",
    ),
    (
        "control character in the description",
        {"description": string("Purchase\u001b[31m")},
        "description may not contain control characters",
    ),
    ("NUL in the message name", {"messageName": string("deci\u0000sion")}, "NUL"),
    (
        "bound String over 4,000 UTF-16 units",
        {"actions": _actions({"name": "a", "variables": {"note": "\U0001f600" * 2001}})},
        "action 'a': variable 'note': a String may hold at most 4000 characters",
    ),
    (
        "pattern RE2 cannot run",
        {"actions": _actions({"name": "a", "input": _schema(pattern="(a)\\1")})},
        "input property 'field': pattern '(a)\\\\1' cannot be used",
    ),
    (
        "lookahead",
        {"actions": _actions({"name": "a", "input": _schema(pattern="^(?=a)")})},
        "patterns are matched by RE2",
    ),
    (
        "unknown format",
        {"actions": _actions({"name": "a", "input": _schema(format="hostname")})},
        "format 'hostname' is not supported; a string may have format email, date, "
        "date-time, uri, uuid",
    ),
    (
        "format on a number",
        {
            "actions": _actions(
                {
                    "name": "a",
                    "input": {
                        "type": "object",
                        "properties": {"n": {"type": "integer", "format": "email"}},
                    },
                }
            )
        },
        "input property 'n': format 'email' is not supported",
    ),
    (
        "reserved prefix in an input property",
        {
            "actions": _actions(
                {
                    "name": "a",
                    "input": {
                        "type": "object",
                        "properties": {"actionLinkAnswer_x": {"type": "string"}},
                    },
                }
            )
        },
        "'actionLinkAnswer_x' starts with 'actionLink', which is reserved",
    ),
    (
        "reserved prefix in a bound variable",
        {"actions": _actions({"name": "a", "variables": {"actionLinkFoo": 1}})},
        "'actionLinkFoo' starts with 'actionLink', which is reserved",
    ),
    (
        "expression keyword as a name",
        {"actions": _actions({"name": "a", "variables": {"empty": 1}})},
        "'empty' is not a usable variable name",
    ),
    (
        "name starting with a digit",
        {"actions": _actions({"name": "a", "variables": {"1st": 1}})},
        "'1st' is not a usable variable name",
    ),
]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [(i, m) for _, i, m in HOSTILE_MODELS],
    ids=[n for n, _, _ in HOSTILE_MODELS],
)
def test_hostile_models_are_readable_modeling_errors(inputs: dict[str, Any], message: str) -> None:
    # A ModelingError becomes an incident at once; anything else (RecursionError, ValueError)
    # would be retried as if it might work next time.
    with pytest.raises(ModelingError) as caught:
        parse_issue(task(**inputs), NOW)
    assert caught.value.detail is not None
    assert message in caught.value.detail


def test_names_camunda_and_juel_accept_may_be_bound_and_asked_for() -> None:
    actions = _actions(
        {
            "name": "a",
            "label": "Line one\n\tline two",
            "variables": {"Betrag_ü": 5, "$total": "x", "_x1": True},
            "input": {"type": "object", "properties": {"montantÉ": {"type": "number"}}},
        }
    )
    spec = parse_issue(task(actions=actions), NOW)
    action = spec.request.actions[0]
    assert set(action.variables) == {"Betrag_ü", "$total", "_x1"}
    assert action.input_schema is not None
    assert list(action.input_schema["properties"]) == ["montantÉ"]
    assert action.label == "Line one\n\tline two"


def test_correlation_key_values_are_capped_like_any_string() -> None:
    spec = parse_issue(
        task(correlateBy=string("correlationKeys"), correlationKeys=string("billId")), NOW
    )
    with pytest.raises(ModelingError, match="correlation key 'billId': a String may hold"):
        bind_correlation_keys(spec, {"billId": string("\U0001f600" * 2001)})
    with pytest.raises(ModelingError, match="NUL"):
        bind_correlation_keys(spec, {"billId": string("B-\u00001")})
