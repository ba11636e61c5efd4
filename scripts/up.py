"""Bring the whole system up locally, without Docker: ``make up``.

Starts a throwaway Postgres (local PostgreSQL binaries) and the Camunda 7 test engine
(built with Maven from tests/engine), migrates with ``alembic upgrade head``, starts
``action-links worker`` and ``action-links serve``, deploys the examples, starts an
approval and prints its Approve and Deny links. Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import services  # noqa: E402
from tests.camunda_rest import EngineRest  # noqa: E402

BIN = Path(sys.executable).parent
ENGINE_PORT = 8080
LINK_PORT = 8088
ADMIN_PORT = 9188


def _port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return services.free_port()
    return preferred


def _wait_for_links(rest: EngineRest, instance: str) -> dict[str, str]:
    def links() -> dict[str, str] | None:
        found = {
            k: v["value"] for k, v in rest.variables(instance).items() if k.startswith("link_")
        }
        return found or None

    result: dict[str, str] = rest.wait_for(links, timeout_s=60, what="the worker to issue links")
    return result


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    link_port = _port(LINK_PORT)
    admin_port = _port(ADMIN_PORT)
    with contextlib.ExitStack() as stack:
        print("starting Postgres …", flush=True)
        cluster = stack.enter_context(services.local_cluster())
        print("building and starting the Camunda 7 engine (first build downloads from Maven) …")
        camunda_url = stack.enter_context(services.local_engine(_port(ENGINE_PORT)))
        env = {
            **os.environ,
            "ACTION_LINKS_DATABASE_URL": cluster.url,
            "ACTION_LINKS_CAMUNDA_URL": camunda_url,
            "ACTION_LINKS_PUBLIC_URL": f"http://127.0.0.1:{link_port}",
            "ACTION_LINKS_LISTEN": f"127.0.0.1:{link_port}",
            "ACTION_LINKS_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
            "ACTION_LINKS_SIGNING_KEYS": f"demo:{secrets.token_urlsafe(32)}",
        }
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True)
        daemons = [
            subprocess.Popen([str(BIN / "action-links"), command], cwd=ROOT, env=env)
            for command in ("worker", "serve")
        ]
        try:
            rest = EngineRest(camunda_url)
            for example in sorted((ROOT / "examples").glob("*.bpmn")):
                rest.deploy_example(example.name)
            instance = rest.start("approval", business_key="purchase-4711")
            links = _wait_for_links(rest, instance)
            print("\nEverything is up.")
            print(f"  Camunda REST: {camunda_url}")
            print(f"  Link server:  http://127.0.0.1:{link_port}")
            print(f"  Metrics:      http://127.0.0.1:{admin_port}/metrics")
            print(f"  Postgres:     {cluster.url}")
            print(f"\nApproval {instance} waits for an answer. Open one of these in a browser:")
            for name, url in sorted(links.items()):
                print(f"  {name[len('link_') :]:>10}: {url}")
            print("\nCtrl-C stops everything.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.is_set() and all(d.poll() is None for d in daemons):
                    time.sleep(0.5)
        finally:
            for daemon in daemons:
                daemon.send_signal(signal.SIGTERM)
            for daemon in daemons:
                daemon.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
