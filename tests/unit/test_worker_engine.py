"""What the worker's engine client sends: request shapes and auth, over a recording transport."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.keys import SIGNING_KEYS
from tokenstore.variables import TypedValue
from worker.engine import EngineClient, Topic
from worker.errors import EngineError
from worker.settings import WorkerSettings

BASE = "http://engine.test/engine-rest"


def settings(**env: str) -> WorkerSettings:
    return WorkerSettings.from_env(
        {
            "ACTION_LINKS_DATABASE_URL": "postgresql://x@localhost/x",
            "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
            "ACTION_LINKS_CAMUNDA_URL": BASE,
            "ACTION_LINKS_WORKER_ID": "w1",
            "ACTION_LINKS_LONG_POLL": "PT5S",
            "ACTION_LINKS_LOCK_DURATION": "PT40S",
            **{f"ACTION_LINKS_{k}": v for k, v in env.items()},
        }
    )


Answer = Callable[[httpx.Request], httpx.Response]


def client_with(answer: Answer, sent: list[httpx.Request], **env: str) -> EngineClient:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    return EngineClient(settings(**env), httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def no_content(_: httpx.Request) -> httpx.Response:
    return httpx.Response(204)


async def test_fetch_asks_for_a_batch_of_both_topics_with_local_raw_variables() -> None:
    sent: list[httpx.Request] = []
    client = client_with(lambda _: httpx.Response(200, json=[{"id": "t1"}]), sent)
    tasks = await client.fetch_batch((Topic("issue-token"), Topic("revoke-tokens")), 7)
    assert tasks == [{"id": "t1"}]
    (request,) = sent
    assert str(request.url) == f"{BASE}/external-task/fetchAndLock"
    body = json.loads(request.content)
    assert body["workerId"] == "w1"
    assert body["maxTasks"] == 7
    assert body["asyncResponseTimeout"] == 5000
    assert [t["topicName"] for t in body["topics"]] == ["issue-token", "revoke-tokens"]
    for topic in body["topics"]:
        assert topic["lockDuration"] == 40000
        assert topic["localVariables"] is True
        assert topic["deserializeValues"] is False
    assert "authorization" not in request.headers


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CAMUNDA_TOKEN": "t0k"}, "Bearer t0k"),
        (
            {"CAMUNDA_USER": "demo", "CAMUNDA_PASSWORD": "pw"},
            "Basic " + base64.b64encode(b"demo:pw").decode(),
        ),
    ],
)
async def test_every_request_carries_the_configured_auth(
    env: dict[str, str], expected: str
) -> None:
    sent: list[httpx.Request] = []
    client = client_with(no_content, sent, **env)
    await client.complete("t1", {"n": TypedValue("Integer", 1)})
    await client.failure("t1", "m", "d", 2, 1000)
    await client.extend_lock("t1", 30000)
    await client.unlock("t1")
    assert [r.headers["authorization"] for r in sent] == [expected] * 4


async def test_complete_fail_extend_and_unlock_bodies() -> None:
    sent: list[httpx.Request] = []
    client = client_with(no_content, sent)
    links = {"type": "Json", "value": '{"a": "https://x/l/t"}'}
    await client.complete("t1", {"actionLinks": TypedValue("Json", '{"a": "https://x/l/t"}')})
    await client.failure("t1", "issue-token: bad", "details", 0, 0)
    await client.extend_lock("t1", 40000)
    await client.unlock("t1")
    paths = [r.url.path.removeprefix("/engine-rest/external-task/") for r in sent]
    assert paths == ["t1/complete", "t1/failure", "t1/extendLock", "t1/unlock"]
    bodies: list[dict[str, Any]] = [json.loads(r.content) for r in sent]
    assert bodies[0] == {
        "workerId": "w1",
        "variables": {"actionLinks": links},
        "localVariables": {},
    }
    assert bodies[1] == {
        "workerId": "w1",
        "errorMessage": "issue-token: bad",
        "errorDetails": "details",
        "retries": 0,
        "retryTimeout": 0,
    }
    assert bodies[2] == {"workerId": "w1", "newDuration": 40000}


async def test_refusals_and_silence_become_engine_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("complete"):
            return httpx.Response(
                400, json={"type": "BadUserRequestException", "message": "locked by w2"}
            )
        if request.url.path.endswith("unlock"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(503, text="unavailable")

    client = client_with(refuse, [])
    with pytest.raises(EngineError) as refused:
        await client.complete("t1", {})
    assert refused.value.status == 400
    assert not refused.value.transient
    assert "BadUserRequestException : locked by w2" in str(refused.value)
    with pytest.raises(EngineError) as down:
        await client.failure("t1", "m", None, 1, 0)
    assert down.value.status == 503
    assert down.value.transient
    with pytest.raises(EngineError) as silent:
        await client.unlock("t1")
    assert silent.value.status is None
    assert silent.value.transient


async def test_process_variables_leaves_out_the_absent() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.params["deserializeValue"] == "false"
        if request.url.path.endswith("/billId"):
            return httpx.Response(200, json={"type": "String", "value": "B-1", "valueInfo": {}})
        # The engine's own words (Camunda 7.24): only these mean "absent".
        message = "process instance variable with name dueOn does not exist"
        return httpx.Response(404, json={"type": "InvalidRequestException", "message": message})

    client = client_with(answer, [])
    values = await client.process_variables("pi-1", ["billId", "dueOn"])
    assert values == {"billId": {"type": "String", "value": "B-1", "valueInfo": {}}}
