"""``action-links serve --processes N``: N link-server processes sharing one port.

Each process is a whole link server (its own event loop, database pool, delivery loop and
guards) listening with ``SO_REUSEPORT``, so the kernel spreads connections over them and
one busy core no longer caps the server. The parent only starts them, passes SIGTERM and
SIGINT on, and waits: every process drains its own requests, and the parent exits 0 once
all of them have. A process that exits on its own (a crash) stops the others, and the
parent exits with its code: the service manager restarts the whole set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from linkserver.settings import LinkServerSettings
from tokenstore.settings import Address

log = logging.getLogger(__name__)

POLL_S = 0.2


@dataclass(frozen=True)
class ProcessSlot:
    """Which of the server's processes this is: ``index`` of ``count``."""

    index: int = 0
    count: int = 1

    @property
    def first(self) -> bool:
        return self.index == 0


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run``, on uvloop where it is installed (the ``fast`` extra): a faster loop
    for the same code. Without it, asyncio's own loop, silently."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def default_processes() -> int:
    """One per CPU this process may run on (its affinity, not the host's count; a container's
    CPU quota is not seen here, so set ``--processes`` under one)."""
    return len(os.sched_getaffinity(0)) or 1


def pool_size_for(slot: ProcessSlot, total: int) -> int:
    """Each process's share of the connections one server would open (at least 2)."""
    return max(2, total // slot.count)


class _ProcessField(logging.Filter):
    """Every log line says which process wrote it (``server_process``)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.server_process = self.index
        return True


def _hold_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to the address with ``SO_REUSEPORT``: it fixes the
    port when 0 asks for any, and keeps it while the processes start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder


Run = Callable[[LinkServerSettings, ProcessSlot], Coroutine[Any, Any, int]]


def _child(run: Run, settings: LinkServerSettings, slot: ProcessSlot) -> None:
    # Until its loop takes them over, a signal ends the process as by default.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_ProcessField(slot.index))
    raise SystemExit(run_loop(run(settings, slot)))


def serve(settings: LinkServerSettings, processes: int, run: Run) -> int:
    """Run the link server (``run``, i.e. ``app.run_server``) in ``processes`` processes
    until SIGTERM or SIGINT."""
    if processes <= 1:
        return run_loop(run(settings, ProcessSlot()))
    host, port = settings.listen
    with _hold_port(host, port) as holder:
        settings = dataclasses.replace(settings, listen=Address(host, holder.getsockname()[1]))
        context = multiprocessing.get_context("fork")
        children = [
            context.Process(
                target=_child, args=(run, settings, ProcessSlot(i, processes)), name=f"serve-{i}"
            )
            for i in range(processes)
        ]
        stopping = False

        def stop(signum: int, _frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True
            for child in children:
                if child.pid is not None and child.exitcode is None:
                    os.kill(child.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for child in children:
            child.start()
        log.info(
            "link server started in %d processes",
            processes,
            extra={"action": "serve_processes", "pids": [c.pid for c in children]},
        )
        return _wait(children, lambda: stopping, stop)


def _wait(
    children: Sequence[BaseProcess],
    stopping: Callable[[], bool],
    stop: Callable[[int, FrameType | None], None],
) -> int:
    while any(c.exitcode is None for c in children):
        ended = [c for c in children if c.exitcode is not None]
        if ended and not stopping():
            # One ended without being asked: stop the others, report its code.
            log.error(
                "link server process %s exited with %s; stopping the others",
                ended[0].name,
                ended[0].exitcode,
                extra={"action": "serve_process_exited", "exit_code": ended[0].exitcode},
            )
            stop(signal.SIGTERM, None)
        time.sleep(POLL_S)
    codes = [c.exitcode for c in children]
    failed = [code for code in codes if code != 0]
    return 0 if not failed else (failed[0] if failed[0] and failed[0] > 0 else 1)
