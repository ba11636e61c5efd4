"""Hostile answers against the real link server and Postgres: a clear 4xx, nothing recorded,
no ERROR in the log, the link still usable, and no answer that stalls the server."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.support.harness import Harness, page
from tokenstore.answerschema import check_schema
from tokenstore.model import ActionSpec, IssuedGroup
from tokenstore.variables import TypedValue

# The modeler's pattern that froze the whole server for 21 s on 28 characters with Python re.
CATASTROPHIC = "^([A-Za-z]+ ?)+$"
# Characters that send a backtracking matcher into exponential time. The 5,000 are over the
# 4,000 a String may hold; the 3,999 fit, so the pattern itself must run on them.
HOSTILE_NAMES = {
    "a" * 4999 + "!": "may hold at most 4000",
    "a" * 3998 + "!": "has the wrong format",
}
# Liveness, not a benchmark: with a blocking matcher /healthz would wait for minutes or more.
ANSWER_BOUND_S = 2.0
FORM = check_schema(
    {
        "type": "object",
        "properties": {
            "amount": {"type": "integer"},
            "price": {"type": "number", "multipleOf": 0.01},
            "note": {"type": "string", "maxLength": 4000},
            "name": {"type": "string", "pattern": CATASTROPHIC},
            "email": {"type": "string", "format": "email"},
        },
    }
)
ACTIONS = (
    ActionSpec("answer", "Answer", {"choice": TypedValue("String", "answer")}, FORM),
    ActionSpec("approve", "Approve", {"approved": TypedValue("Boolean", True)}),
)
DEEP = b'{"input": ' + b"[" * 7_000 + b"]" * 7_000 + b"}"  # under the 16 KiB cap
JSON = "application/json"
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=xyz"


@pytest.fixture
def harness(direct_harness: Harness) -> Harness:
    return direct_harness


async def issue(harness: Harness) -> tuple[str, IssuedGroup]:
    pid = await harness.instance()
    return pid, await harness.issue(pid, actions=ACTIONS)


def api_url(harness: Harness, token: str) -> str:
    return f"{harness.base}/api/v1/links/{token}/redeem"


async def post(harness: Harness, url: str, body: bytes, content_type: str) -> tuple[int, str]:
    status, text, _ = await page(
        harness, "POST", url, data=body, headers={"Content-Type": content_type}
    )
    return status, text


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


API_CASES: list[tuple[str, bytes, str, int, str, str | None]] = [
    # name, body, content type, status, error code, field named in the error
    ("nan", b'{"input": {"price": NaN}}', JSON, 422, "invalid_input", "price"),
    ("infinity", b'{"input": {"price": Infinity}}', JSON, 422, "invalid_input", "price"),
    ("minus infinity", b'{"input": {"amount": -Infinity}}', JSON, 422, "invalid_input", "amount"),
    ("1e400", b'{"input": {"price": 1e400}}', JSON, 422, "invalid_input", "price"),
    (
        "300 digits",
        b'{"input": {"amount": ' + b"9" * 300 + b"}}",
        JSON,
        422,
        "invalid_input",
        "amount",
    ),
    ("2**63", b'{"input": {"amount": %d}}' % 2**63, JSON, 422, "invalid_input", "amount"),
    (
        "-2**63-1",
        b'{"input": {"amount": %d}}' % (-(2**63) - 1),
        JSON,
        422,
        "invalid_input",
        "amount",
    ),
    (
        "5000 digits",
        b'{"input": {"amount": ' + b"9" * 5000 + b"}}",
        JSON,
        400,
        "invalid_json",
        None,
    ),
    ("not a multiple", b'{"input": {"price": 0.305}}', JSON, 422, "invalid_input", "price"),
    ("deep nesting", DEEP, JSON, 400, "invalid_json", None),
    (
        "nesting a parser survives",
        b'{"input": {"amount": ' + b"[" * 500 + b"]" * 500 + b"}}",
        JSON,
        400,
        "invalid_json",
        None,
    ),
    ("nul", b'{"input": {"note": "a\\u0000b"}}', JSON, 422, "invalid_input", "note"),
    ("lone surrogate", b'{"input": {"note": "a\\ud800b"}}', JSON, 422, "invalid_input", "note"),
    ("raw invalid utf-8", b'{"input": {"note": "\xff"}}', JSON, 400, "invalid_json", None),
    (
        "unknown charset",
        b'{"input": {"note": "x"}}',
        JSON + "; charset=klingon",
        400,
        "unsupported_charset",
        None,
    ),
    (
        "non-text charset",
        b'{"input": {"note": "x"}}',
        JSON + "; charset=zlib",
        400,
        "unsupported_charset",
        None,
    ),
    ("bad email", b'{"input": {"email": "not-an-address"}}', JSON, 422, "invalid_input", "email"),
    (
        "emoji over the cap",
        json.dumps({"input": {"note": "\U0001f600" * 2001}}, ensure_ascii=False).encode(),
        JSON,
        422,
        "invalid_input",
        "note",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "field"),
    [case[1:] for case in API_CASES],
    ids=[case[0] for case in API_CASES],
)
async def test_hostile_json_is_a_clear_4xx_and_records_nothing(
    harness: Harness,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    status: int,
    code: str,
    field: str | None,
) -> None:
    caplog.set_level(logging.INFO)
    pid, issued = await issue(harness)
    url = api_url(harness, issued.tokens["answer"])
    got, text = await post(harness, url, body, content_type)
    assert got == status, text
    error = json.loads(text)["error"]
    assert error["code"] == code
    if field is not None:
        assert field in error["fields"], error
    assert await harness.answers() == 0
    no_errors_logged(caplog)
    # The link is still usable, and takes a good answer.
    got, text = await post(harness, url, b'{"input": {"amount": 7}}', JSON)
    assert got in (200, 202), text
    assert json.loads(text)["outcome"] == "accepted"
    assert harness.rest.history_variables(pid)["amount"]["value"] == 7


FORM_CASES: list[tuple[str, bytes, str, int, str]] = [
    # name, body, content type, status, text on the page
    ("integer nan", b"amount=nan", URLENCODED, 422, "must be an integer"),
    ("number nan", b"price=nan", URLENCODED, 422, "must be a finite number"),
    ("number 1e400", b"price=1e400", URLENCODED, 422, "must be a finite number"),
    ("integer 1e400", b"amount=1e400", URLENCODED, 422, "must be an integer"),
    ("integer 300 digits", b"amount=" + b"9" * 300, URLENCODED, 422, "must be between"),
    ("integer 5000 digits", b"amount=" + b"9" * 5000, URLENCODED, 422, "must be an integer"),
    ("nul", b"note=a%00b", URLENCODED, 422, "NUL"),
    ("unknown charset", b"note=x", URLENCODED + "; charset=klingon", 400, "could not be read"),
    ("invalid utf-8", b"note=\xff", URLENCODED, 400, "could not be read"),
    ("multipart without boundary", b"garbage", "multipart/form-data", 400, "could not be read"),
    ("multipart garbage", b"garbage", MULTIPART, 400, "could not be read"),
    (
        "multipart part without name",
        b"--xyz\r\nContent-Disposition: form-data\r\n\r\nv\r\n--xyz--\r\n",
        MULTIPART,
        400,
        "could not be read",
    ),
    (
        "multipart garbled disposition",
        b'--xyz\r\nContent-Disposition: zzz;;;"\r\n\r\nv\r\n--xyz--\r\n',
        MULTIPART,
        400,
        "could not be read",
    ),
    (
        "multipart cut short",
        b'--xyz\r\nContent-Disposition: form-data; name="note"\r\n\r\nv',
        MULTIPART,
        400,
        "could not be read",
    ),
    (
        "multipart unknown part charset",
        b'--xyz\r\nContent-Disposition: form-data; name="note"\r\n'
        b"Content-Type: text/plain; charset=klingon\r\n\r\nv\r\n--xyz--\r\n",
        MULTIPART,
        400,
        "could not be read",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "text"),
    [case[1:] for case in FORM_CASES],
    ids=[case[0] for case in FORM_CASES],
)
async def test_hostile_forms_get_a_readable_page_and_record_nothing(
    harness: Harness,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    status: int,
    text: str,
) -> None:
    caplog.set_level(logging.INFO)
    pid, issued = await issue(harness)
    url = harness.url(issued.tokens["answer"])
    got, html = await post(harness, url, body, content_type)
    assert got == status
    assert text in html and "<html" in html.lower()
    assert await harness.answers() == 0
    no_errors_logged(caplog)
    got, _ = await post(harness, url, b"amount=7", URLENCODED)
    assert got == 303
    assert harness.rest.history_variables(pid)["amount"]["value"] == 7


async def test_a_catastrophic_pattern_never_stalls_the_server(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    _, issued = await issue(harness)
    url = api_url(harness, issued.tokens["answer"])
    answers = {
        name: asyncio.create_task(
            post(harness, url, json.dumps({"input": {"name": name}}).encode(), JSON)
        )
        for name in HOSTILE_NAMES
    }
    health = asyncio.create_task(page(harness, "GET", f"{harness.base}/healthz"))
    other = asyncio.create_task(
        page(harness, "GET", f"{harness.base}/api/v1/links/{issued.tokens['approve']}")
    )
    # The bound makes a stalled server fail the test instead of hanging it.
    done, _ = await asyncio.wait({health, other}, timeout=ANSWER_BOUND_S)
    assert health in done and other in done, "the server stopped answering"
    assert health.result()[0] == 200
    assert json.loads(other.result()[1])["status"] == "open"
    for name, message in HOSTILE_NAMES.items():
        status, text = await asyncio.wait_for(answers[name], ANSWER_BOUND_S)
        assert status == 422
        assert json.loads(text)["error"]["fields"]["name"].startswith(message)
    assert await harness.answers() == 0
    no_errors_logged(caplog)


async def test_2001_emoji_exceed_a_max_length_of_4000(harness: Harness) -> None:
    pid, issued = await issue(harness)
    url = api_url(harness, issued.tokens["answer"])
    body = json.dumps({"input": {"note": "\U0001f600" * 2001}}, ensure_ascii=False).encode()
    status, text = await post(harness, url, body, JSON)
    assert status == 422
    assert json.loads(text)["error"]["fields"] == {
        "note": "may hold at most 4000 characters (an emoji and some rare characters count as two)"
    }
    assert await harness.answers() == 0
    body = json.dumps({"input": {"note": "\U0001f600" * 2000}}, ensure_ascii=False).encode()
    status, text = await post(harness, url, body, JSON)
    assert status in (200, 202), text
    assert harness.rest.history_variables(pid)["note"]["value"] == "\U0001f600" * 2000


async def test_a_decimal_multiple_is_exact(harness: Harness) -> None:
    # 0.3 / 0.01 is 29.999999999999996 in floats; as decimals it is 30, a whole multiple.
    pid, issued = await issue(harness)
    body = b'{"input": {"price": 0.3}}'
    status, text = await post(harness, api_url(harness, issued.tokens["answer"]), body, JSON)
    assert status in (200, 202), text
    price = harness.rest.history_variables(pid)["price"]
    assert price["type"] == "Double" and price["value"] == 0.3
