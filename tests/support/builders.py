"""Builders for the values tests issue links from."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from tests.support.harness import Harness
from tokenstore.model import ActionSpec, IssueRequest
from tokenstore.types import ExternalTaskId, ProcessInstanceId
from tokenstore.variables import TypedValue

YES_NO = (ActionSpec("yes", "Yes"), ActionSpec("no", "No"))
# A multi-use action of the ``reminders`` model (tests/support/models/reminders.bpmn).
REMIND = ActionSpec("remind", "Remind me", {"remind": TypedValue("Boolean", True)}, max_uses=3)


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


async def reminder_link(h: Harness) -> tuple[str, str]:
    """Start a ``reminders`` instance and issue it a multi-use Remind link: (instance, token)."""
    pid = await asyncio.to_thread(h.rest.start, "reminders")
    issued = await h.issue(pid, actions=(REMIND,), exclusive=False, message_name="remind-me")
    return pid, issued.tokens["remind"]
