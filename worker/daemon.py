"""The worker loop: fetch and lock in batches, handle concurrently, stop cleanly.

One long poll asks for as many tasks as there are free slots. Each task runs in its own
asyncio task with a lock keeper; its database write is one transaction, committed before
``complete``. On SIGTERM/SIGINT the loop stops fetching, gives running tasks the grace
period, and hands back (unlocks) the ones that did not finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from typing import Any

import httpx

from tokenstore.backoff import backoff_delay
from tokenstore.db import Database
from worker import letter, metrics, preflight
from worker.admin import admin_listener
from worker.engine import LONG_POLL_SLACK_S, EngineClient, Topic, milliseconds
from worker.errors import AdminListenError, EngineError, ModelingError
from worker.housekeeping import reap_periodically
from worker.mail import SmtpConfig
from worker.outcome import Complete, Outcome, RetryPolicy, choose_outcome, is_transient
from worker.settings import WorkerSettings
from worker.task import Task
from worker.topics import HANDLERS, Context, Outputs

log = logging.getLogger(__name__)

TOPICS = tuple(Topic(name) for name in HANDLERS)
# Connections beyond max_tasks: the long poll and lock extensions run alongside the tasks.
SPARE_HTTP_CONNECTIONS = 4
# Fetch again once this share of the slots is free, not at every finished task: a fetch
# per task cost the engine (and us) a fetch-and-lock round trip per task, where a batch
# costs one (bench/issue_vs_bare.py).
REFILL_SHARE = 0.5


def slots_to_fill(max_tasks: int, in_flight: int) -> int:
    """How many tasks to fetch now; 0 to wait for running ones to finish first."""
    free = max_tasks - in_flight
    return free if free >= max(1, int(max_tasks * REFILL_SHARE)) else 0


class Worker:
    """Serves the topics until told to stop; never raises for one task's trouble."""

    def __init__(self, settings: WorkerSettings, client: EngineClient, ctx: Context) -> None:
        self.settings = settings
        self.client = client
        self.ctx = ctx
        self.policy = RetryPolicy(settings.task_retries, settings.retry_timeout)
        self.in_flight: set[asyncio.Task[Outcome]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                free = slots_to_fill(self.settings.max_tasks, len(self.in_flight))
                if not free:
                    await asyncio.wait(
                        {*self.in_flight, stopping}, return_when=asyncio.FIRST_COMPLETED
                    )
                    continue
                batch = await self._fetch(free, stopping)
                if isinstance(batch, Exception):
                    failures += 1
                    delay = backoff_delay(failures, random.random())
                    log.warning(
                        "fetch-and-lock failed (%d in a row), next try in %.1fs: %s",
                        failures,
                        delay,
                        batch,
                        exc_info=None if isinstance(batch, EngineError) else batch,
                        extra={"action": "fetch_failed", "failures": failures},
                    )
                    await asyncio.wait({stopping}, timeout=delay)
                    continue
                failures = 0
                for task in batch:
                    self._start(task)
        finally:
            stopping.cancel()
            await self._drain()

    async def _fetch(self, free: int, stopping: asyncio.Task[bool]) -> list[Task] | Exception:
        """A batch of tasks (empty when stopping), or what went wrong fetching it."""
        fetch = asyncio.create_task(self._timed_fetch(free))
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not fetch.done():
            await self._finish_poll(fetch)
            return []
        try:
            items = fetch.result()
        except Exception as exc:
            return exc
        tasks = []
        for item in items:
            try:
                tasks.append(Task.from_json(item))
            except (KeyError, TypeError):
                log.exception("unreadable task %s", item.get("id"), extra={"action": "bad_task"})
        return tasks

    async def _timed_fetch(self, free: int) -> list[dict[str, Any]]:
        started = time.monotonic()
        try:
            return await self.client.fetch_batch(TOPICS, free)
        finally:
            metrics.FETCH_SECONDS.observe(time.monotonic() - started)

    async def _finish_poll(self, fetch: asyncio.Task[list[dict[str, Any]]]) -> None:
        """Stopping mid-poll: let the poll end and hand back whatever it locked for us.

        The engine keeps a long poll open after its client hung up, and locks the next
        tasks for it anyway; abandoning the poll would strand them until their lock ran out.
        """
        # Never longer than the grace period: an operator who set a short one wants out.
        timeout_s = min(
            self.settings.long_poll.total_seconds() + LONG_POLL_SLACK_S,
            self.settings.shared.shutdown_grace.total_seconds(),
        )
        done, _ = await asyncio.wait({fetch}, timeout=timeout_s)
        if not done:
            fetch.cancel()
            try:
                await fetch
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                log.info(
                    "stopping: the poll cut short failed: %s",
                    exc,
                    extra={"action": "last_poll_failed"},
                )
            return
        try:
            for item in fetch.result():
                await self._hand_back(Task.from_json(item))
        except Exception as exc:
            # A failed poll locked nothing; an unreadable task's lock runs out by itself.
            log.info(
                "stopping: the last poll failed or returned an unreadable task: %s",
                exc,
                extra={"action": "last_poll_failed"},
            )

    def _start(self, task: Task) -> None:
        running = asyncio.create_task(self.process(task), name=f"task-{task.id}")
        self.in_flight.add(running)
        running.add_done_callback(self.in_flight.discard)

    async def process(self, task: Task) -> Outcome:
        """Handle one task and report its outcome; cancelled, it hands the task back."""
        keeper = asyncio.create_task(self._keep_lock(task))
        try:
            try:
                result = await self._handle(task)
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            outcome = choose_outcome(task.topic, result, task.retries, self.policy)
            metrics.TASKS.labels(task.topic, _outcome_label(outcome)).inc()
            self._log_failure(task, outcome, result)
            await self._report(task, outcome)
            return outcome
        except asyncio.CancelledError:
            metrics.TASKS.labels(task.topic, "handed_back").inc()
            await self._hand_back(task)
            raise

    async def _handle(self, task: Task) -> Outputs | BaseException:
        handler = HANDLERS.get(task.topic)
        if handler is None:  # the engine only sends topics we asked for; guard anyway
            return LookupError(f"no handler for topic {task.topic!r}")
        try:
            return await handler(task, self.ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return exc

    async def _report(self, task: Task, outcome: Outcome) -> None:
        try:
            if isinstance(outcome, Complete):
                await self.client.complete(task.id, outcome.variables)
                log.info(
                    "%s task %s completed", task.topic, task.id, extra=task.log_extra("completed")
                )
                return
            await self.client.failure(
                task.id, outcome.message, outcome.details, outcome.retries, outcome.retry_timeout_ms
            )
        except Exception as exc:
            # The lock runs out and the task is fetched again; issuing is idempotent.
            log.warning(
                "%s task %s: could not report the outcome: %s",
                task.topic,
                task.id,
                exc,
                extra=task.log_extra("report_failed"),
            )

    def _log_failure(self, task: Task, outcome: Outcome, result: object) -> None:
        if isinstance(outcome, Complete):
            return
        kind = "incident" if outcome.incident else "failed"
        unexpected = isinstance(result, Exception) and not (
            isinstance(result, ModelingError) or is_transient(result)
        )
        log.log(
            logging.ERROR if unexpected else logging.WARNING,
            "%s task %s %s (%d retries left): %s",
            task.topic,
            task.id,
            kind,
            outcome.retries,
            outcome.message,
            exc_info=result if unexpected and isinstance(result, Exception) else None,
            extra=task.log_extra(kind, retries=outcome.retries),
        )

    async def _keep_lock(self, task: Task) -> None:
        """Extend the lock at half its duration, for as long as the task runs."""
        lock_ms = milliseconds(self.settings.lock_duration)
        while True:
            await asyncio.sleep(self.settings.lock_duration.total_seconds() / 2)
            try:
                await self.client.extend_lock(task.id, lock_ms)
            except Exception as exc:
                log.warning(
                    "%s task %s: could not extend the lock: %s",
                    task.topic,
                    task.id,
                    exc,
                    extra=task.log_extra("extend_lock_failed"),
                )
            else:
                log.debug("lock extended", extra=task.log_extra("lock_extended"))

    async def _hand_back(self, task: Task) -> None:
        try:
            await self.client.unlock(task.id)
        except Exception as exc:
            log.warning(
                "%s task %s: could not unlock (its lock will expire): %s",
                task.topic,
                task.id,
                exc,
                extra=task.log_extra("unlock_failed"),
            )
        else:
            log.info(
                "%s task %s handed back", task.topic, task.id, extra=task.log_extra("unlocked")
            )

    async def _drain(self) -> None:
        """Let running tasks finish within the grace period, then hand back the rest."""
        if not self.in_flight:
            return
        grace = self.settings.shared.shutdown_grace.total_seconds()
        log.info(
            "stopping: waiting up to %.0fs for %d tasks",
            grace,
            len(self.in_flight),
            extra={"action": "draining", "tasks": len(self.in_flight)},
        )
        _, late = await asyncio.wait(set(self.in_flight), timeout=grace)
        for running in late:
            running.cancel()
        await asyncio.gather(*late, return_exceptions=True)


def _outcome_label(outcome: Outcome) -> str:
    if isinstance(outcome, Complete):
        return "completed"
    return "incident" if outcome.incident else "failed"


async def run_worker(settings: WorkerSettings) -> int:
    """Serve the topics and reap until SIGTERM or SIGINT; 0 after a clean stop."""
    await preflight.log_checks(settings.shared)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    db = Database.from_url(
        settings.shared.database_url, settings.max_tasks, settings.shared.db_schema
    )
    limits = httpx.Limits(max_connections=settings.max_tasks + SPARE_HTTP_CONNECTIONS)
    admin = admin_listener(settings.admin.host, settings.admin.port)
    try:
        async with admin, httpx.AsyncClient(limits=limits) as http:
            client = EngineClient(settings, http)
            ctx = Context(
                db,
                client,
                settings.shared.keyring,
                settings.shared.public_url,
                smtp=SmtpConfig.from_settings(settings),
                templates=letter.environment(settings.template_dir),
                webhooks=settings.webhooks,
            )
            log.info(
                "worker %s serving %s at %s (up to %d tasks at once)",
                settings.worker_id,
                ", ".join(t.name for t in TOPICS),
                settings.shared.camunda_url,
                settings.max_tasks,
                extra={"action": "started", "worker_id": settings.worker_id},
            )
            reaper = asyncio.create_task(reap_periodically(db, settings, stop))
            try:
                await Worker(settings, client, ctx).run(stop)
            finally:
                # A batch cut short rolls back; the next run of any worker picks it up.
                reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
    except AdminListenError as exc:
        log.error("%s", exc, extra={"action": "admin_listen_failed"})
        return 1
    finally:
        await db.dispose()
        for sig in signals:
            loop.remove_signal_handler(sig)
    log.info("worker stopped", extra={"action": "stopped", "worker_id": settings.worker_id})
    return 0
