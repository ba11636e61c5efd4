"""Identifiers and states: the vocabulary every other module speaks."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import NewType

GroupId = NewType("GroupId", uuid.UUID)
LinkId = NewType("LinkId", uuid.UUID)
RedemptionId = NewType("RedemptionId", uuid.UUID)
TokenHash = NewType("TokenHash", bytes)
ExternalTaskId = NewType("ExternalTaskId", str)
ProcessInstanceId = NewType("ProcessInstanceId", str)


class LinkState(enum.StrEnum):
    ACTIVE = "active"
    PENDING = "pending"  # answered; delivery to Camunda not yet confirmed
    REDEEMED = "redeemed"
    REVOKED = "revoked"
    EXPIRED = "expired"
    UNDELIVERABLE = "undeliverable"  # answered, but the process no longer waited for it


class RedemptionState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"


class CorrelateBy(enum.StrEnum):
    PROCESS_INSTANCE = "processInstance"
    BUSINESS_KEY = "businessKey"
    CORRELATION_KEYS = "correlationKeys"


class RevokeReason(enum.StrEnum):
    SIBLING_USED = "sibling_used"
    REQUESTED = "requested"  # by a revoke-tokens task
    CLOSED = "closed"  # the process instance ended: no answer can arrive any more
    OPERATOR = "operator"  # by ``action-links links revoke``


class AuditAction(enum.StrEnum):
    ISSUED = "issued"
    REISSUED = "reissued"
    ANSWERED = "answered"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    REVOKED = "revoked"
    EXPIRED = "expired"
    REAPED = "reaped"
    RETRY_REQUESTED = "retry_requested"  # an operator made an answer due again
    SENT = "sent"  # a channel task handed the links to a mail server or a webhook


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> dt.datetime:
    """The one clock of both daemons: aware, in UTC, as every timestamp column is."""
    return dt.datetime.now(dt.UTC)
