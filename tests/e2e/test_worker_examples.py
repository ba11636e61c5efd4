"""The worker as a subprocess against the real engine and Postgres, driving the examples."""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import uuid
from typing import Any

from devstack.rest import EngineRest
from tests.support.bpmn import model_xml
from tests.support.worker_process import database_text, link_rows, running_worker
from tokenstore import tokens
from tokenstore.tokens import Keyring
from tokenstore.variables import parse_date

PUBLIC_URL = "https://links.example.test"


def start(
    engine_rest: EngineRest,
    started: list[str],
    key: str,
    variables: dict[str, Any] | None = None,
    business_key: str | None = None,
) -> str:
    instance_id = engine_rest.start(key, variables, business_key)
    started.append(instance_id)
    return instance_id


def string(value: str) -> dict[str, Any]:
    return {"type": "String", "value": value}


def wait_for_variable(engine_rest: EngineRest, instance_id: str, name: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return engine_rest.history_variables(instance_id).get(name)

    return dict(engine_rest.wait_for(found, what=f"variable {name} of {instance_id}"))


def wait_for_end(engine_rest: EngineRest, instance_id: str) -> list[str]:
    try:
        engine_rest.wait_for(lambda: not engine_rest.is_running(instance_id), what="the end")
    except AssertionError as exc:
        state = {
            "activities": engine_rest.activities(instance_id),
            "incidents": engine_rest.incidents(instance_id),
            "external tasks": engine_rest.external_tasks(instance_id),
        }
        raise AssertionError(f"{exc}: {state}") from None
    return engine_rest.activities(instance_id)


def correlate(engine_rest: EngineRest, body: dict[str, Any]) -> None:
    response = engine_rest.http.post("/message", json=body)
    assert response.status_code in (200, 204), response.text


def token_of(url: str) -> str:
    assert url.startswith(f"{PUBLIC_URL}/l/"), url
    return url.removeprefix(f"{PUBLIC_URL}/l/")


def assert_secret_nowhere(token: str, *texts: str) -> None:
    """Neither the token nor its random part (as text or hex) appears in the texts."""
    _, secret_part, _ = token.split(".")
    secret = base64.urlsafe_b64decode(secret_part + "==")
    for text in texts:
        assert token not in text
        assert secret_part not in text
        assert secret.hex() not in text


# --- approval ------------------------------------------------------------------------------


def test_approval_links_land_in_camunda_and_only_hashes_in_postgres(
    engine_rest: EngineRest,
    camunda_url: str,
    database_url: str,
    keyring: Keyring,
    started: list[str],
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    before = dt.datetime.now(dt.UTC)
    instance = start(engine_rest, started, "approval", {"linkTtl": string("PT2H")}, "PR-4711")
    with running_worker(database_url, camunda_url, PUBLIC_URL) as worker:
        links_var = wait_for_variable(engine_rest, instance, "actionLinks")
        engine_rest.wait_for(
            lambda: "WaitForDecision" in engine_rest.activities(instance), what="the gateway"
        )
        assert worker.stop(signal.SIGTERM) == 0
        log = worker.log_text()

    variables = engine_rest.variables(instance)
    assert links_var["type"] == variables["actionLinks"]["type"] == "Json"
    urls = json.loads(variables["actionLinks"]["value"])
    assert list(urls) == ["approve", "deny"]
    assert variables["link_approve"] == {
        "type": "String",
        "value": urls["approve"],
        "valueInfo": {},
    }
    assert variables["link_deny"]["value"] == urls["deny"]
    assert variables["actionLinksExpireAt"]["type"] == "Date"
    expires = parse_date(variables["actionLinksExpireAt"]["value"])
    after = dt.datetime.now(dt.UTC)
    assert before + dt.timedelta(hours=2) - dt.timedelta(seconds=1) <= expires
    assert expires <= after + dt.timedelta(hours=2)

    rows = link_rows(database_url, instance)
    assert [r["action"] for r in rows] == ["approve", "deny"]
    assert {str(r["group_id"]) for r in rows} == {variables["actionLinkGroupId"]["value"]}
    group = rows[0]
    assert group["business_key"] == "PR-4711"
    assert group["process_definition_key"] == "approval"
    assert group["activity_id"] == "IssueLinks"
    assert group["message_name"] == "decision"
    assert group["correlate_by"] == "processInstance"
    assert group["description"] == "Approve purchase request"
    assert group["exclusive"] is True
    assert abs(group["expires_at"] - expires) < dt.timedelta(milliseconds=1)
    assert [r["label"] for r in rows] == ["Approve", "Deny"]
    assert rows[0]["variables"] == {"approved": {"type": "Boolean", "value": True}}
    assert rows[1]["variables"] == {"approved": {"type": "Boolean", "value": False}}
    assert all(r["state"] == "active" and r["max_uses"] == 1 for r in rows)
    dump = database_text(database_url)
    for row in rows:
        token = token_of(urls[str(row["action"])])
        assert bytes(row["token_hash"]) == tokens.verify(keyring, token)
        assert_secret_nowhere(token, dump, log)
    assert "Traceback" not in log

    # The model goes on as the link server would drive it.
    correlate(
        engine_rest,
        {
            "messageName": "decision",
            "processInstanceId": instance,
            "processVariables": {
                "approved": {"type": "Boolean", "value": True},
                "actionLinkRedemptionId": string(str(uuid.uuid4())),
            },
        },
    )
    path = wait_for_end(engine_rest, instance)
    assert "Approved" in path
    assert "Rejected" not in path


def test_approval_timeout_revokes_the_links(
    engine_rest: EngineRest, camunda_url: str, database_url: str, started: list[str]
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    instance = start(engine_rest, started, "approval", {"decisionTimeout": string("PT1S")})
    with running_worker(database_url, camunda_url, PUBLIC_URL) as worker:
        activities = wait_for_end(engine_rest, instance)
        assert worker.stop() == 0
    assert {"RevokeLinks", "TimedOut"} <= set(activities)
    assert "DecisionReceived" not in activities
    assert engine_rest.history_variables(instance)["revokedCount"]["value"] == 2
    assert engine_rest.history_variables(instance)["revokedCount"]["type"] == "Integer"
    rows = link_rows(database_url, instance)
    assert [(r["state"], r["revoked_reason"]) for r in rows] == [("revoked", "requested")] * 2


# --- top-up --------------------------------------------------------------------------------


def test_topup_issues_three_links_one_with_an_input_form(
    engine_rest: EngineRest,
    camunda_url: str,
    database_url: str,
    keyring: Keyring,
    started: list[str],
) -> None:
    engine_rest.deploy_example("topup.bpmn")
    instance = start(engine_rest, started, "topup")
    with running_worker(database_url, camunda_url, PUBLIC_URL) as worker:
        wait_for_variable(engine_rest, instance, "actionLinks")
        engine_rest.wait_for(
            lambda: "WaitForChoice" in engine_rest.activities(instance), what="the gateway"
        )
        assert worker.stop() == 0
    variables = engine_rest.variables(instance)
    urls = json.loads(variables["actionLinks"]["value"])
    assert list(urls) == ["twenty", "fifty", "other"]
    assert [variables[f"link_{name}"]["value"] for name in urls] == list(urls.values())
    rows = link_rows(database_url, instance)
    by_action = {str(r["action"]): r for r in rows}
    assert by_action["twenty"]["variables"] == {"amount": {"type": "Integer", "value": 20}}
    assert by_action["fifty"]["variables"] == {"amount": {"type": "Integer", "value": 50}}
    assert by_action["other"]["variables"] == {}
    assert by_action["other"]["label"] == "Other amount"
    schema = by_action["other"]["input_schema"]
    assert isinstance(schema, dict)
    assert schema["properties"]["amount"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "title": "Amount in dollars",
    }
    assert schema["required"] == ["amount"]
    assert schema["additionalProperties"] is False
    assert by_action["twenty"]["input_schema"] is None
    for name, url in urls.items():
        assert bytes(by_action[name]["token_hash"]) == tokens.verify(keyring, token_of(url))

    correlate(
        engine_rest,
        {
            "messageName": "topup",
            "processInstanceId": instance,
            "processVariables": {"amount": {"type": "Integer", "value": 120}},
        },
    )
    assert "ToppedUp" in wait_for_end(engine_rest, instance)


# --- bill payment --------------------------------------------------------------------------


def _bill(engine_rest: EngineRest, started: list[str], **variables: Any) -> tuple[str, str]:
    bill_id = f"B-{uuid.uuid4().hex[:8]}"
    start_vars = {"billId": string(bill_id), **{k: string(v) for k, v in variables.items()}}
    return start(engine_rest, started, "bill-payment", start_vars), bill_id


def _states(database_url: str, instance: str) -> dict[str, str]:
    return {str(r["action"]): str(r["state"]) for r in link_rows(database_url, instance)}


def test_bill_payment_groups_and_what_each_path_takes_back(
    engine_rest: EngineRest, camunda_url: str, database_url: str, started: list[str]
) -> None:
    engine_rest.deploy_example("bill-payment.bpmn")
    paid, paid_bill = _bill(engine_rest, started)
    overdue, _ = _bill(engine_rest, started, overdueAfter="PT2S")
    decided, decided_bill = _bill(engine_rest, started)
    with running_worker(database_url, camunda_url, PUBLIC_URL) as worker:
        for instance in (paid, overdue, decided):
            wait_for_variable(engine_rest, instance, "reminderLinks")

        variables = engine_rest.variables(decided)
        assert list(json.loads(variables["paymentLinks"]["value"])) == ["pay-now", "schedule"]
        assert list(json.loads(variables["reminderLinks"]["value"])) == ["remind-me"]
        assert variables["payLink_pay_now"]["type"] == "String"
        assert variables["payLink_schedule"]["type"] == "String"
        assert variables["reminderLink_remind_me"]["type"] == "String"
        assert variables["paymentLinksExpireAt"]["type"] == "Date"
        assert variables["paymentGroupId"]["value"] != variables["reminderGroupId"]["value"]
        rows = link_rows(database_url, decided)
        groups = {str(r["action"]): r for r in rows}
        assert groups["pay-now"]["correlate_by"] == "correlationKeys"
        assert groups["pay-now"]["correlation_keys"] == {"billId": string(decided_bill)}
        assert groups["pay-now"]["exclusive"] is True
        assert groups["pay-now"]["description"] == f"Pay bill {decided_bill}"
        assert groups["remind-me"]["exclusive"] is False
        assert groups["remind-me"]["max_uses"] == 3
        assert groups["remind-me"]["correlate_by"] == "processInstance"

        # Reminders may be asked for more than once while the bill is open.
        for _ in range(2):
            correlate(engine_rest, {"messageName": "remind-me", "processInstanceId": decided})
        # A decision takes back only the reminder link.
        correlate(
            engine_rest,
            {
                "messageName": "bill-decision",
                "correlationKeys": {"billId": string(decided_bill)},
                "processVariables": {"choice": string("schedule")},
            },
        )
        # Paid out of band: everything goes.
        correlate(
            engine_rest,
            {"messageName": "bill-paid", "correlationKeys": {"billId": string(paid_bill)}},
        )
        decided_path = wait_for_end(engine_rest, decided)
        paid_path = wait_for_end(engine_rest, paid)
        # Overdue: schedule and remind-me go, pay-now stays.
        wait_for_variable(engine_rest, overdue, "overdueRevokedCount")
        engine_rest.wait_for(
            lambda: "WaitForLatePayment" in engine_rest.activities(overdue), what="late gateway"
        )
        assert worker.stop() == 0

    assert decided_path.count("ScheduleReminder") == 2
    assert "Scheduled" in decided_path
    assert "ChargeNow" not in decided_path
    assert engine_rest.history_variables(decided)["revokedCount"]["value"] == 1
    assert _states(database_url, decided) == {
        "pay-now": "active",  # the link server would have marked the used one
        "schedule": "active",
        "remind-me": "revoked",
    }
    assert {"RevokeAll", "SettledElsewhere"} <= set(paid_path)
    assert "RevokeReminder" not in paid_path
    assert engine_rest.history_variables(paid)["revokedCount"]["value"] == 3
    assert set(_states(database_url, paid).values()) == {"revoked"}
    assert engine_rest.history_variables(overdue)["overdueRevokedCount"]["value"] == 2
    assert _states(database_url, overdue) == {
        "pay-now": "active",
        "schedule": "revoked",
        "remind-me": "revoked",
    }


# --- modeling mistakes ---------------------------------------------------------------------

MISTAKES_BPMN = model_xml("worker-mistakes")

GOOD_ACTIONS = json.dumps([{"name": "ok"}])
MISTAKES = {
    "bad ttl": (
        {"acts": GOOD_ACTIONS, "ttlIn": "P7X"},
        "issue-token: ttl 'P7X' is not an ISO 8601 duration (e.g. P7D, PT12H)",
    ),
    "no actions": ({}, "issue-token: the input parameter actions is required, e.g. ["),
    "unknown type": (
        {"acts": json.dumps([{"name": "a", "variables": {"x": {"type": "Xml", "value": 1}}}])},
        "issue-token: action 'a': variable 'x': type 'Xml'; use one of String, Boolean,",
    ),
    "schema not a schema": (
        {"acts": json.dumps([{"name": "a", "input": {"type": "object", "properties": 5}}])},
        "issue-token: action 'a': input: the input schema is not valid JSON Schema",
    ),
}


def test_modeling_mistakes_raise_incidents_that_say_what_to_fix(
    engine_rest: EngineRest, camunda_url: str, database_url: str, started: list[str]
) -> None:
    engine_rest.deploy_xml("worker_mistakes", MISTAKES_BPMN)
    instances = {
        name: start(
            engine_rest,
            started,
            "worker_mistakes",
            {k: string(v) for k, v in inputs.items()},
        )
        for name, (inputs, _) in MISTAKES.items()
    }
    with running_worker(database_url, camunda_url, PUBLIC_URL) as worker:
        incidents = {
            name: engine_rest.wait_for(
                lambda instance=instance: engine_rest.incidents(instance), what=f"{name} incident"
            )
            for name, instance in instances.items()
        }
        assert worker.stop() == 0
        log = worker.log_text()
    for name, (_, message) in MISTAKES.items():
        (incident,) = incidents[name]
        assert incident["incidentType"] == "failedExternalTask"
        assert incident["activityId"] == "Issue"
        assert incident["incidentMessage"].startswith(message), incident["incidentMessage"]
        (task,) = engine_rest.external_tasks(instances[name])
        assert task["retries"] == 0
        details = engine_rest.http.get(f"/external-task/{task['id']}/errorDetails").text
        assert message.removeprefix("issue-token: ") in details
        assert link_rows(database_url, instances[name]) == []
    assert "Traceback" not in log


# --- reaping -------------------------------------------------------------------------------


def test_the_worker_expires_and_later_deletes_links_past_their_ttl(
    engine_rest: EngineRest, camunda_url: str, database_url: str, started: list[str]
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    short = start(engine_rest, started, "approval", {"linkTtl": string("PT1S")})
    long = start(engine_rest, started, "approval")
    with running_worker(
        database_url, camunda_url, PUBLIC_URL, REAP_INTERVAL="PT1S", RETENTION="PT3S"
    ) as worker:
        engine_rest.wait_for(
            lambda: {r["state"] for r in link_rows(database_url, short)} == {"expired"},
            what="the short-lived links to expire",
        )
        engine_rest.wait_for(
            lambda: link_rows(database_url, short) == [], what="the expired group to go"
        )
        assert worker.stop() == 0
        log = worker.log_text()
    assert {r["state"] for r in link_rows(database_url, long)} == {"active"}
    assert "reaped:" in log
    assert "Traceback" not in log
