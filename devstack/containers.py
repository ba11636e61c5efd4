"""Whether a Docker engine answers, for testcontainers."""

from __future__ import annotations

import os
from pathlib import Path


def docker_available() -> bool:
    if os.environ.get("ACTION_LINKS_TEST_NO_DOCKER"):
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception:  # any failure means "no usable Docker engine"
        return False
    return True
