"""Bring the whole system up locally, without Docker: ``make up``.

Starts a throwaway Postgres (local PostgreSQL binaries) and the Camunda 7 test engine
(built with Maven from tests/engine), migrates with ``action-links migrate``, starts
``action-links worker`` and ``action-links serve``, deploys the examples, starts an
approval and prints its Approve and Deny links and how to get fresh ones (``make demo``).
A local SMTP sink takes the worker's mail: an approval-by-email is started too, and its mail
lands as a ``.eml`` file in a printed folder.
A busy port (8080, 8088, 9189) is replaced by a free one, and said so. Ctrl-C stops
everything, letting the daemons drain first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo import DEFAULT_CAMUNDA_URL, print_links, start_approval  # noqa: E402

from devstack.engine import local_engine  # noqa: E402
from devstack.mailsink import mail_sink  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from devstack.postgres import local_cluster  # noqa: E402
from devstack.rest import EngineRest  # noqa: E402

BIN = Path(sys.executable).parent
ENGINE_PORT = 8080
LINK_PORT = 8088
ADMIN_PORT = 9188
WORKER_ADMIN_PORT = 9189
MAIL_FROM = "action-links@localhost"
DEMO_APPROVER = "approver@example.com"
# What the demo approval is about: the confirmation page shows it as a table.
DEMO_PURCHASE = '{"Amount": "$4,800.00", "Requested by": "Anna Berg", "Cost centre": "CC-7"}'
# The daemons' ACTION_LINKS_SHUTDOWN_GRACE (default) plus a long poll's end.
DRAIN_S = 20


def _port(preferred: int, what: str) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            chosen = free_port()
            print(f"port {preferred} is busy: {what} uses port {chosen} instead", flush=True)
            return chosen
    return preferred


def _demo_command(camunda_url: str) -> str:
    if camunda_url == DEFAULT_CAMUNDA_URL:
        return "make demo"
    return f"make demo CAMUNDA_URL={camunda_url}"


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    link_port = _port(LINK_PORT, "the link server")
    admin_port = _port(ADMIN_PORT, "the link server's /metrics")
    worker_admin_port = _port(WORKER_ADMIN_PORT, "the worker's /healthz and /metrics")
    with contextlib.ExitStack() as stack:
        print("starting Postgres …", flush=True)
        cluster = stack.enter_context(local_cluster())
        print("building and starting the Camunda 7 engine (first build downloads from Maven) …")
        engine_port = _port(ENGINE_PORT, "the Camunda engine")
        camunda_url = stack.enter_context(local_engine(engine_port))
        mail_folder = Path(tempfile.mkdtemp(prefix="action-links-mail-"))
        smtp_host, smtp_port = stack.enter_context(mail_sink(mail_folder))
        env = {
            **os.environ,
            "ACTION_LINKS_DATABASE_URL": cluster.url,
            "ACTION_LINKS_CAMUNDA_URL": camunda_url,
            "ACTION_LINKS_PUBLIC_URL": f"http://127.0.0.1:{link_port}",
            "ACTION_LINKS_LISTEN": f"127.0.0.1:{link_port}",
            "ACTION_LINKS_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
            "ACTION_LINKS_SIGNING_KEYS": f"demo:{secrets.token_urlsafe(32)}",
            "ACTION_LINKS_WORKER_ADMIN_LISTEN": f"127.0.0.1:{worker_admin_port}",
            "ACTION_LINKS_SMTP_HOST": smtp_host,
            "ACTION_LINKS_SMTP_PORT": str(smtp_port),
            "ACTION_LINKS_SMTP_SECURITY": "none",
            "ACTION_LINKS_SMTP_FROM": MAIL_FROM,
        }
        migrate = [str(BIN / "action-links"), "--log-level", "WARNING", "migrate"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
        daemons = [
            subprocess.Popen([str(BIN / "action-links"), command], cwd=ROOT, env=env)
            for command in ("worker", "serve")
        ]
        try:
            rest = EngineRest(camunda_url)
            for example in sorted((ROOT / "examples").glob("*.bpmn")):
                rest.deploy_example(example.name)
            instance, links = start_approval(rest, "purchase-4711")
            approver = {
                "approver": {"type": "String", "value": DEMO_APPROVER},
                "purchase": {"type": "Json", "value": DEMO_PURCHASE},
            }
            rest.start("approval-by-email", approver, business_key="purchase-4712")
            print("\nEverything is up.")
            print(f"  Camunda REST:   {camunda_url}")
            print(f"  Link server:    http://127.0.0.1:{link_port}")
            print(f"  Metrics:        http://127.0.0.1:{admin_port}/metrics (link server)")
            print(f"                  http://127.0.0.1:{worker_admin_port}/metrics (worker)")
            print(f"  Postgres:       {cluster.url}")
            print(f"  Mail sink:      smtp://{smtp_host}:{smtp_port} → {mail_folder}\n")
            print_links(instance, links)
            print(f"\nFresh links for another approval: {_demo_command(camunda_url)}")
            print(
                f"approval-by-email mailed its links to {DEMO_APPROVER}: "
                f"open the .eml file in {mail_folder} with a mail program"
            )
            print("\nCtrl-C stops everything.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.is_set() and all(d.poll() is None for d in daemons):
                    time.sleep(0.5)
        finally:
            print(
                f"\nstopping: the worker and the link server finish what they hold "
                f"(up to {DRAIN_S} s), then Camunda and Postgres stop …",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):
                for daemon in daemons:
                    if daemon.poll() is None:
                        daemon.send_signal(signal.SIGTERM)
                for daemon in daemons:
                    daemon.wait(timeout=DRAIN_S + 15)
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
