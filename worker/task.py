"""An external task as the engine hands it out, and the log fields that identify it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenstore.types import ExternalTaskId, ProcessInstanceId


@dataclass(frozen=True)
class Task:
    """A fetched and locked external task; ``variables`` are raw typed values by name."""

    id: ExternalTaskId
    topic: str
    process_instance_id: ProcessInstanceId
    activity_id: str
    process_definition_key: str | None = None
    business_key: str | None = None
    tenant_id: str | None = None
    retries: int | None = None
    variables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        """Read one item of a fetch-and-lock response."""
        return cls(
            id=ExternalTaskId(data["id"]),
            topic=data["topicName"],
            process_instance_id=ProcessInstanceId(data["processInstanceId"]),
            activity_id=data.get("activityId") or "",
            process_definition_key=data.get("processDefinitionKey"),
            business_key=data.get("businessKey"),
            tenant_id=data.get("tenantId"),
            retries=data.get("retries"),
            variables=dict(data.get("variables") or {}),
        )

    def log_extra(self, action: str, **more: object) -> dict[str, object]:
        """``extra`` for a log call: a stable action key and the ids of this task."""
        return {
            "action": action,
            "task_id": self.id,
            "topic": self.topic,
            "process_instance_id": self.process_instance_id,
            **more,
        }
