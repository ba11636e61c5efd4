"""Start and stop ``action-links worker`` as a subprocess, for end-to-end tests.

    with running_worker(database_url, camunda_url, "http://links.test") as worker:
        ...
        assert worker.stop(signal.SIGTERM) == 0
        assert "Traceback" not in worker.log_text()

Extra environment is passed as keyword arguments, with or without the ``ACTION_LINKS_``
prefix: ``running_worker(..., MAX_TASKS="5", ACTION_LINKS_LOCK_DURATION="PT5S")``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import ROOT
from tests.support.keys import SIGNING_KEYS

PREFIX = "ACTION_LINKS_"
READY_LINE = "serving issue-token, revoke-tokens"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    worker_id: str

    def log_text(self) -> str:
        """Everything the worker wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout_s: float = START_TIMEOUT_S, times: int = 1) -> None:
        """Wait until ``text`` appears in the log (at least ``times`` times)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.log_text().count(text) >= times:
                return
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the worker exited with {self.process.returncode} before logging "
                    f"{text!r}:\n{self.log_text()[-4000:]}"
                )
            time.sleep(0.1)
        raise AssertionError(f"the worker did not log {text!r}:\n{self.log_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send ``sig`` (unless it exited already) and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the worker did not stop within {timeout_s}s:\n{self.log_text()[-4000:]}"
            ) from None


def worker_env(
    database_url: str, camunda_url: str, public_url: str, **extra_env: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            f"{PREFIX}DATABASE_URL": database_url,
            f"{PREFIX}SIGNING_KEYS": SIGNING_KEYS,
            f"{PREFIX}CAMUNDA_URL": camunda_url,
            f"{PREFIX}PUBLIC_URL": public_url,
            f"{PREFIX}WORKER_ID": f"e2e-worker-{uuid.uuid4().hex[:8]}",
            f"{PREFIX}LONG_POLL": "PT2S",
            # Several workers may run at once: each admin listener on a port of its own.
            f"{PREFIX}WORKER_ADMIN_LISTEN": "127.0.0.1:0",
        }
    )
    for key, value in extra_env.items():
        env[key if key.startswith(PREFIX) else PREFIX + key] = value
    return env


@contextlib.contextmanager
def running_worker(
    database_url: str, camunda_url: str, public_url: str, **extra_env: str
) -> Iterator[WorkerProcess]:
    """A worker that has started serving; stopped with SIGTERM on the way out if still running."""
    env = worker_env(database_url, camunda_url, public_url, **extra_env)
    with running_worker_command([sys.executable, "-m", "actionlinks_cli"], ROOT, env) as worker:
        yield worker


@contextlib.contextmanager
def running_worker_command(
    executable: Sequence[str], cwd: Path, env: dict[str, str]
) -> Iterator[WorkerProcess]:
    """``running_worker`` with the ``action-links`` command to run (an installed one, say)."""
    fd, name = tempfile.mkstemp(prefix="action-links-worker-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [*executable, "worker"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(process, log_path, env[f"{PREFIX}WORKER_ID"])
    try:
        worker.wait_for_log(READY_LINE)
        yield worker
    finally:
        if process.poll() is None:
            with contextlib.suppress(AssertionError):
                worker.stop(signal.SIGTERM)
        log_path.unlink(missing_ok=True)


# --- what the worker left behind -----------------------------------------------------------


def link_rows(database_url: str, process_instance_id: str) -> list[dict[str, Any]]:
    """Every link of a process instance joined with its group, oldest group first."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            """
            SELECT g.id AS group_id, g.external_task_id, g.process_instance_id,
                   g.process_definition_key, g.business_key, g.tenant_id, g.activity_id,
                   g.message_name, g.correlate_by, g.correlation_keys, g.description,
                   g.exclusive, g.created_at, g.expires_at, g.recipient,
                   l.action, l.label, l.position, l.token_hash, l.variables, l.input_schema,
                   l.max_uses, l.uses, l.state, l.revoked_reason
            FROM link_groups g JOIN links l ON l.group_id = g.id
            WHERE g.process_instance_id = %s
            ORDER BY g.created_at, l.position
            """,
            (process_instance_id,),
        ).fetchall()
    return [dict(row) for row in rows]


def database_text(database_url: str) -> str:
    """All rows of the link tables as JSON text, to search for things that must not be there."""
    import psycopg

    tables = ("link_groups", "links", "redemptions", "audit_events", "sends")
    with psycopg.connect(database_url) as conn:
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608
        )
