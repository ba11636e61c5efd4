"""The local stack the tests, ``make up``, ``make demo`` and ``bench/`` run against.

A throwaway PostgreSQL cluster (``postgres``), the Maven-built Camunda 7 or Operaton engine
(``engine``), a few engine REST calls to deploy and start processes (``rest``) and the
link server as a subprocess (``linkserver``). Development tooling: not part of the wheel.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ServiceUnavailable(RuntimeError):
    """A service the tests need could not be brought up."""
