"""Prometheus metrics of the link server, exposed at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry()

REDEMPTIONS = Counter(
    "action_links_redemptions",
    "Uses of links by outcome (accepted, answered, expired, revoked, invalid_input, invalid_token)",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "action_links_deliveries",
    "Attempts to deliver answers to Camunda by result (delivered, retry, undeliverable)",
    ["result"],
    registry=REGISTRY,
)
