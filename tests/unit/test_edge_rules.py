"""Pure rules of the network edge: client address, guessing limit, log text, throttled logs."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import resource

import pytest

from linkserver.clientaddr import clean_user_agent, resolve
from linkserver.ratelimit import FailureLimiter
from linkserver.security import SanitizingFilter, loggable
from linkserver.server import ConnectionGuard, handle_loop_exception, raise_open_file_limit
from linkserver.throttle import LogThrottle

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
TOKEN = "k1.AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBB"


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # untrusted peer: header ignored
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.9"], "198.51.100.1"),  # rightmost untrusted
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # several headers
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["not-an-ip"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, garbage, 10.0.0.3"], "10.0.0.3"),
        ("::1", ["[2001:db8::1]"], "2001:db8::1"),
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_the_client_address_trusts_only_configured_proxies(
    peer: str | None, forwarded: list[str], client: str
) -> None:
    assert resolve(peer, forwarded, PROXIES) == client


def test_failed_lookups_are_limited_per_client_and_refill() -> None:
    limiter = FailureLimiter(burst=3, per_minute=6)
    for _ in range(3):
        assert limiter.check("a", 0).allowed
        limiter.failed("a", 0)
    verdict = limiter.check("a", 0)
    assert not verdict.allowed and verdict.retry_after_s == 10
    assert limiter.check("b", 0).allowed  # others are not affected
    assert limiter.check("a", 10).allowed  # one refilled after ten seconds
    limiter.failed("a", 10)
    assert not limiter.check("a", 10).allowed
    assert limiter.check("a", 30).allowed and len(limiter) == 1
    # A bucket that has filled up again is forgotten.
    assert limiter.check("a", 1000).allowed and len(limiter) == 0


def test_the_limiter_forgets_the_least_recently_seen_clients() -> None:
    limiter = FailureLimiter(burst=1, per_minute=1, max_clients=100)
    for i in range(1000):
        limiter.failed(f"client-{i}", 0)
    assert len(limiter) == 100
    assert not limiter.check("client-999", 0).allowed
    assert limiter.check("client-0", 0).allowed


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("/l/x\n2026 INFO forged", "/l/x\\x0a2026 INFO forged"),
        ("/a\r\nb\x00c\x1b[31m", "/a\\x0d\\x0ab\\x00c\\x1b[31m"),
        ("/a\u2028b\x85c", "/a\\x2028b\\x85c"),
        (f"//l/{TOKEN}", "//l/k1.AAAA…"),
        (f"/static/{TOKEN}/x", "/static/k1.AAAA…/x"),
        ("/l/k1.AAAAAAAAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB", "/l/k1.…/BBBBBBBBBBBBBBBB"),
        ("/healthz", "/healthz"),
    ],
)
def test_logged_request_text_is_one_line_without_a_token(text: str, logged: str) -> None:
    assert loggable(text) == logged


def test_logged_request_text_is_bounded() -> None:
    assert len(loggable("/x" * 10_000)) == 513


def test_foreign_log_records_are_rewritten_safely() -> None:
    try:
        raise ValueError(f"Invalid method encountered:\n\nGET /l/{TOKEN} HTTP/1.1")
    except ValueError as exc:
        error = exc
    record = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "bad line %r", (f"/l/{TOKEN}\n",), None
    )
    record.exc_info = (ValueError, error, error.__traceback__)
    assert SanitizingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text and "AAAAAAAAAAAAAAAAAAAAAA" not in text
    assert text.splitlines()[0] == "bad line '/l/k1.AAAA…\\n'"
    assert text.endswith(
        "ValueError: Invalid method encountered:\\x0a\\x0aGET /l/k1.AAAA… HTTP/1.1"
    )


def test_a_recurring_event_is_logged_once_per_interval_with_a_count() -> None:
    throttle = LogThrottle(60)
    assert throttle.due("emfile", 0) == 0
    assert [throttle.due("emfile", t) for t in range(1, 50)] == [None] * 49
    assert throttle.due("other", 1) == 0
    assert throttle.due("emfile", 61) == 49
    assert throttle.due("emfile", 62) is None


async def test_running_out_of_file_descriptors_is_one_warning_not_a_traceback_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.WARNING)
    for _ in range(10_000):
        handle_loop_exception(
            loop,
            {
                "message": "socket.accept() out of system resource",
                "exception": OSError(errno.EMFILE, "Too many open files"),
            },
        )
    records = [r for r in caplog.records if getattr(r, "action", "") == "accept_exhausted"]
    assert len(records) <= 1 and all(r.exc_info is None for r in records)
    assert not [r for r in caplog.records if r.name == "asyncio"]


def test_connections_are_capped_in_total_and_per_client() -> None:
    guard = ConnectionGuard(max_total=5, max_per_client=2, trusted=PROXIES)
    assert [guard.admit("203.0.113.1") for _ in range(3)] == [True, True, False]
    assert guard.admit("203.0.113.2")
    assert [guard.admit("10.0.0.1") for _ in range(3)] == [True, True, False]  # total reached
    guard.release("203.0.113.1")
    assert guard.admit("203.0.113.1") and guard.open == 5


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, None),
        ("", None),
        ("Mozilla/5.0", "Mozilla/5.0"),
        ("\udcff\udcfeBot", "\ufffd\ufffdBot"),  # undecodable bytes as aiohttp hands them over
        ("a\x85b\u2028c\x7f", "abc"),
        ("x" * 1000, "x" * 256),
        ("\x85", None),
    ],
)
def test_the_user_agent_is_stored_as_clean_bounded_text(raw: str | None, clean: str | None) -> None:
    assert clean_user_agent(raw) == clean


def test_the_open_file_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, 2048)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        raised = raise_open_file_limit()
        assert raised == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert raised == hard or hard == resource.RLIM_INFINITY
        assert raised >= lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
