"""Prometheus metrics of the link server, exposed at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry()

REDEMPTIONS = Counter(
    "action_links_redemptions",
    "Uses of links by outcome (accepted, answered, expired, revoked, invalid_input, invalid_token)",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "action_links_deliveries",
    "Attempts to deliver answers to Camunda by result (delivered, retry, undeliverable, "
    "refused: the engine refused the answer for good, invisible: the instance cannot be seen)",
    ["result"],
    registry=REGISTRY,
)
PENDING = Gauge(
    "action_links_pending_answers",
    "Answers recorded but not yet delivered to Camunda (all link servers)",
    registry=REGISTRY,
)
OLDEST_PENDING_AGE = Gauge(
    "action_links_oldest_pending_answer_age_seconds",
    "Age of the oldest answer still waiting for delivery; alert when it keeps growing",
    registry=REGISTRY,
)
INVISIBLE_INSTANCES = Gauge(
    "action_links_invisible_instances",
    "Pending answers whose process instance the engine hides from the link server "
    "(neither runtime nor history shows it): check its engine permissions and tenants",
    registry=REGISTRY,
)
