"""Prometheus metrics of the worker, exposed at ``/metrics`` on its admin listener."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()

TASKS = Counter(
    "action_links_worker_tasks",
    "External tasks handled, by topic and outcome (completed, failed, incident, handed_back)",
    ["topic", "outcome"],
    registry=REGISTRY,
)
LINKS_ISSUED = Counter(
    "action_links_worker_links_issued", "Links issued (re-issues count again)", registry=REGISTRY
)
LINKS_REVOKED = Counter(
    "action_links_worker_links_revoked", "Links revoked by revoke-tokens tasks", registry=REGISTRY
)
LINKS_EXPIRED = Counter(
    "action_links_worker_links_expired", "Links the reaper marked expired", registry=REGISTRY
)
GROUPS_REAPED = Counter(
    "action_links_worker_groups_reaped",
    "Long-expired link groups the reaper deleted",
    registry=REGISTRY,
)
AUDIT_EVENTS_DELETED = Counter(
    "action_links_worker_audit_events_deleted",
    "Audit events older than ACTION_LINKS_AUDIT_RETENTION deleted by the reaper",
    registry=REGISTRY,
)
FETCH_SECONDS = Histogram(
    "action_links_worker_fetch_seconds",
    "Duration of one fetch-and-lock request, long poll included",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
    registry=REGISTRY,
)
