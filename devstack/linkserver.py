"""Run ``action-links serve`` as a real subprocess (end-to-end tests, the benchmark)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack import ROOT
from devstack.ports import free_port

START_TIMEOUT_S = 30


@dataclass
class LinkServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_linkserver(
    database_url: str,
    camunda_url: str,
    *,
    signing_keys: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    log_level: str = "DEBUG",
    executable: Sequence[str] = (sys.executable, "-m", "actionlinks_cli"),
    cwd: Path = ROOT,
    processes: int = 1,
) -> LinkServerProcess:
    """``executable`` is the ``action-links`` command to run (an installed one, for instance);
    ``processes`` is its ``--processes`` (1 unless asked: the guards' limits are per process)."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACTION_LINKS_")},
        "ACTION_LINKS_DATABASE_URL": database_url,
        "ACTION_LINKS_SIGNING_KEYS": signing_keys,
        "ACTION_LINKS_CAMUNDA_URL": camunda_url,
        "ACTION_LINKS_PUBLIC_URL": base_url,
        "ACTION_LINKS_LISTEN": f"127.0.0.1:{port}",
        # Tests run side by side: the admin listener takes any free port (the log names it).
        "ACTION_LINKS_ADMIN_LISTEN": "127.0.0.1:0",
        **(env or {}),
    }
    log_path = Path(tempfile.mkstemp(prefix="linkserver-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*executable, "--log-level", log_level, "serve", "--processes", str(processes)],
            cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = LinkServerProcess(process, base_url, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _healthy(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                server.kill()
            log_tail = server.log_text()[-3000:]
            log_path.unlink(missing_ok=True)
            raise AssertionError(f"link server did not start:\n{log_tail}")
        time.sleep(0.1)
    return server


@contextlib.contextmanager
def running_linkserver(
    database_url: str,
    camunda_url: str,
    *,
    signing_keys: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    log_level: str = "DEBUG",
    processes: int = 1,
    executable: Sequence[str] = (sys.executable, "-m", "actionlinks_cli"),
) -> Iterator[LinkServerProcess]:
    server = start_linkserver(
        database_url,
        camunda_url,
        signing_keys=signing_keys,
        port=port,
        env=env,
        log_level=log_level,
        processes=processes,
        executable=executable,
    )
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop(signal.SIGTERM)
        server.log_path.unlink(missing_ok=True)
