"""Start one more approval on a running ``make up`` and print its links: ``make demo``.

make demo                                   # engine at 127.0.0.1:8080
make demo CAMUNDA_URL=http://127.0.0.1:PORT/engine-rest   # the port make up printed
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.rest import EngineRest  # noqa: E402

DEFAULT_CAMUNDA_URL = "http://127.0.0.1:8080/engine-rest"


def wait_for_links(rest: EngineRest, instance: str) -> dict[str, str]:
    """The ``link_*`` variables the worker sets, by action name."""

    def links() -> dict[str, str] | None:
        found = {
            k.removeprefix("link_"): v["value"]
            for k, v in rest.variables(instance).items()
            if k.startswith("link_")
        }
        return found or None

    result: dict[str, str] = rest.wait_for(links, timeout_s=60, what="the worker to issue links")
    return result


def start_approval(rest: EngineRest, business_key: str) -> tuple[str, dict[str, str]]:
    instance = rest.start("approval", business_key=business_key)
    return instance, wait_for_links(rest, instance)


def print_links(instance: str, links: dict[str, str]) -> None:
    print(f"Approval {instance} waits for an answer. Open one of these in a browser:")
    for name, url in sorted(links.items()):
        print(f"  {name:>10}: {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camunda-url", default=DEFAULT_CAMUNDA_URL)
    args = parser.parse_args(argv)
    rest = EngineRest(args.camunda_url)
    try:
        instance, links = start_approval(rest, f"purchase-{uuid.uuid4().hex[:4]}")
    finally:
        rest.close()
    print_links(instance, links)
    return 0


if __name__ == "__main__":
    sys.exit(main())
