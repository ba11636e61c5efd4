"""Builders of the values tests start from: issue requests, groups and links."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from tokenstore.model import ActionSpec, Group, IssueRequest, Link
from tokenstore.types import (
    CorrelateBy,
    ExternalTaskId,
    GroupId,
    LinkId,
    LinkState,
    ProcessInstanceId,
    TokenHash,
)
from tokenstore.variables import TypedValue

# The moment value builders (and the unit tests using them) take as now.
NOW = dt.datetime(2026, 11, 28, 10, 42, tzinfo=dt.UTC)
YES_NO = (ActionSpec("yes", "Yes"), ActionSpec("no", "No"))


def issue_request(
    task: str = "task-1",
    instance: str = "pi-1",
    *,
    actions: Sequence[ActionSpec] = YES_NO,
    ttl: dt.timedelta = dt.timedelta(hours=1),
    **changes: Any,
) -> IssueRequest:
    """An ``issue-token`` request of task ``task`` in instance ``instance``, message
    ``decision``; ``changes`` set any other field."""
    base = IssueRequest(
        external_task_id=ExternalTaskId(task),
        process_instance_id=ProcessInstanceId(instance),
        activity_id="issue",
        message_name="decision",
        actions=tuple(actions),
        ttl=ttl,
    )
    return dataclasses.replace(base, **changes)


def group(expires_in: dt.timedelta = dt.timedelta(hours=1), exclusive: bool = True) -> Group:
    return Group(
        id=GroupId(uuid.uuid4()),
        external_task_id=ExternalTaskId("t1"),
        process_instance_id=ProcessInstanceId("p1"),
        business_key=None,
        tenant_id=None,
        activity_id="issue",
        message_name="decision",
        correlate_by=CorrelateBy.PROCESS_INSTANCE,
        correlation_keys={},
        description=None,
        exclusive=exclusive,
        created_at=NOW - dt.timedelta(hours=1),
        expires_at=NOW + expires_in,
    )


def link(
    state: LinkState = LinkState.ACTIVE,
    schema: dict[str, Any] | None = None,
    uses: int = 0,
    max_uses: int = 1,
) -> Link:
    return Link(
        id=LinkId(uuid.uuid4()),
        group_id=GroupId(uuid.uuid4()),
        action="approve",
        label="Approve",
        position=0,
        token_hash=TokenHash(b"h" * 32),
        variables={"approved": TypedValue("Boolean", True)},
        input_schema=schema,
        max_uses=max_uses,
        uses=uses,
        state=state,
        revoked_reason=None,
        changed_at=None,
    )
