"""The README's first command: ``make up`` (scripts/up.py) brings everything up and a printed
link really answers the approval it started."""

from __future__ import annotations

import email
import gc
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from email.policy import default
from pathlib import Path

from devstack import ROOT

UP_TIMEOUT_S = 240
LINK_PORT = 8088


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        if process.poll() is not None:
            raise AssertionError(f"scripts/up.py exited early:\n{content[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"scripts/up.py did not print {text!r}:\n{log.read_text()[-4000:]}")


def _fresh_links_work(content: str, env: dict[str, str]) -> None:
    """The printed ``make demo`` command gives links to another approval that open."""
    hint = re.search(r"^Fresh links for another approval: make demo(?: CAMUNDA_URL=(\S+))?$",
                     content, re.MULTILINE)  # fmt: skip
    assert hint, content[-2000:]
    args = ["--camunda-url", hint.group(1)] if hint.group(1) else []
    demo = subprocess.run(
        [sys.executable, "scripts/demo.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    fresh = dict(re.findall(r"^\s+(approve|deny): (http://\S+)$", demo.stdout, re.MULTILINE))
    assert set(fresh) == {"approve", "deny"}, demo.stdout
    first = re.search(r"^Approval (\S+) waits", content, re.MULTILINE)
    assert first and first.group(1) not in demo.stdout  # another instance
    status, body = _request("GET", fresh["deny"])
    assert status == 200 and "Confirm: Deny" in body


def _request(method: str, url: str) -> tuple[int, str]:
    """One request, no redirects followed, the connection closed whatever happens."""
    parts = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        connection.request(method, parts.path, body=b"" if method == "POST" else None)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _occupy(port: int) -> socket.socket | None:
    """Hold ``port`` so that make up must choose another (None if someone holds it already)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


def test_make_up_prints_links_that_answer_the_approval() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTION_LINKS_")}
    fd, name = tempfile.mkstemp(prefix="action-links-up-", suffix=".log")
    log = Path(name)
    held = _occupy(LINK_PORT)
    with os.fdopen(fd, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "scripts/up.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        content = _wait_for(log, "Ctrl-C stops everything.", process)
        busy = re.search(rf"port {LINK_PORT} is busy: the link server uses port (\d+)", content)
        assert busy, content[-2000:]
        links = dict(re.findall(r"^\s+(approve|deny): (http://\S+)$", content, re.MULTILINE))
        assert set(links) == {"approve", "deny"}, content[-2000:]
        base = f"http://127.0.0.1:{busy.group(1)}/l/"
        assert all(url.startswith(base) for url in links.values()), content[-3000:]
        _fresh_links_work(content, env)
        status, body = _request("GET", links["approve"])
        assert status == 200 and "Confirm: Approve" in body
        status, _ = _request("POST", links["approve"])
        assert status == 303
        status, body = _request("GET", links["approve"])
        assert status == 200 and "Answer recorded" in body
        assert urllib.parse.urlparse(links["deny"]).path.startswith("/l/")
        # The approval-by-email instance's mail reaches the local SMTP sink.
        saved = re.search(
            r"^mail to approver@example.com: .* saved as (\S+\.eml)$",
            _wait_for(log, "saved as", process),
            re.MULTILINE,
        )
        assert saved, log.read_text()[-2000:]
        mail = email.message_from_bytes(Path(saved.group(1)).read_bytes(), policy=default)
        assert mail["Subject"] == "Please approve purchase request"
        plain = mail.get_body(("plain",))
        assert plain is not None and base in plain.get_content()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        code = process.wait(timeout=90)
        tail = log.read_text(errors="replace")[-3000:]
        log.unlink(missing_ok=True)
        if held:
            held.close()
    assert code == 0, tail
    assert "Traceback" not in tail
    # Ctrl-C is not met with silence while the daemons drain.
    assert "stopping: the worker and the link server finish what they hold" in tail
    assert tail.rstrip().endswith("stopped."), tail
    gc.collect()  # a leaked socket shows up here, in this test, not in a later one
