"""Value objects read from and written to the link tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenstore.types import (
    CorrelateBy,
    ExternalTaskId,
    GroupId,
    LinkId,
    LinkState,
    ProcessInstanceId,
    RedemptionId,
    RedemptionState,
    TokenHash,
)
from tokenstore.variables import TypedValue, from_json_map


@dataclass(frozen=True)
class ActionSpec:
    """One possible answer, as the model describes it."""

    name: str
    label: str
    variables: Mapping[str, TypedValue] = field(default_factory=dict)
    input_schema: Mapping[str, Any] | None = None
    max_uses: int = 1


@dataclass(frozen=True)
class IssueRequest:
    """Everything an ``issue-token`` task asks for, already validated."""

    external_task_id: ExternalTaskId
    process_instance_id: ProcessInstanceId
    activity_id: str
    message_name: str
    actions: tuple[ActionSpec, ...]
    ttl: dt.timedelta
    process_definition_key: str | None = None
    business_key: str | None = None
    tenant_id: str | None = None
    correlate_by: CorrelateBy = CorrelateBy.PROCESS_INSTANCE
    correlation_keys: Mapping[str, TypedValue] = field(default_factory=dict)
    description: str | None = None
    exclusive: bool = True
    recipient: str | None = None
    # What the person is asked about, and the language and time zone pinned for the pages.
    details: tuple[Detail, ...] = ()
    locale: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class Detail:
    """One row of what a request is about (``Amount``: ``4800``), shown as text.

    A number or a boolean keeps its type, so each page formats it for the reader's language.
    """

    label: str
    value: str | int | float | bool | None

    def to_json(self) -> dict[str, Any]:
        """The row as ``link_groups.details`` and the JSON API keep it."""
        return {"label": self.label, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Detail:
        return cls(str(data["label"]), data.get("value"))


def details_to_json(details: Sequence[Detail]) -> list[dict[str, Any]]:
    return [detail.to_json() for detail in details]


@dataclass(frozen=True)
class Group:
    id: GroupId
    external_task_id: ExternalTaskId
    process_instance_id: ProcessInstanceId
    business_key: str | None
    tenant_id: str | None
    activity_id: str
    message_name: str
    correlate_by: CorrelateBy
    correlation_keys: Mapping[str, TypedValue]
    description: str | None
    exclusive: bool
    created_at: dt.datetime
    expires_at: dt.datetime
    recipient: str | None = None
    # What the person is asked about, shown on the confirmation page in this order.
    details: tuple[Detail, ...] = ()
    # Pinned per task: the pages' language (BCP 47) and the time zone of dates (IANA name).
    locale: str | None = None
    time_zone: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Group:
        return cls(
            id=GroupId(row["id"]),
            external_task_id=ExternalTaskId(row["external_task_id"]),
            process_instance_id=ProcessInstanceId(row["process_instance_id"]),
            business_key=row["business_key"],
            tenant_id=row["tenant_id"],
            activity_id=row["activity_id"],
            message_name=row["message_name"],
            correlate_by=CorrelateBy(row["correlate_by"]),
            correlation_keys=from_json_map(row["correlation_keys"]),
            description=row["description"],
            exclusive=row["exclusive"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            recipient=row["recipient"],
            details=tuple(Detail.from_json(item) for item in row["details"] or ()),
            locale=row["locale"],
            time_zone=row["time_zone"],
        )


@dataclass(frozen=True)
class Link:
    id: LinkId
    group_id: GroupId
    action: str
    label: str
    position: int
    token_hash: TokenHash
    variables: Mapping[str, TypedValue]
    input_schema: Mapping[str, Any] | None
    max_uses: int
    uses: int
    state: LinkState
    revoked_reason: str | None
    changed_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Link:
        return cls(
            id=LinkId(row["id"]),
            group_id=GroupId(row["group_id"]),
            action=row["action"],
            label=row["label"],
            position=row["position"],
            token_hash=TokenHash(bytes(row["token_hash"])),
            variables=from_json_map(row["variables"]),
            input_schema=row["input_schema"],
            max_uses=row["max_uses"],
            uses=row["uses"],
            state=LinkState(row["state"]),
            revoked_reason=row["revoked_reason"],
            changed_at=row["changed_at"],
        )


@dataclass(frozen=True)
class Answer:
    """An answer recorded for a group: which action, when, and where its delivery stands."""

    redemption_id: RedemptionId
    link_id: LinkId
    action: str
    label: str
    answered_at: dt.datetime
    state: RedemptionState
    variables: Mapping[str, TypedValue]
    # The engine refused it (an error of the engine's own, not a closed request).
    refused: bool = False
    # The answering link's schema: which of ``variables`` were typed in, and their titles.
    input_schema: Mapping[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Answer:
        """A ``redemptions`` row joined with its link's ``action`` and ``label``."""
        return cls(
            redemption_id=RedemptionId(row["id"]),
            link_id=LinkId(row["link_id"]),
            action=row["action"],
            label=row["label"],
            answered_at=row["answered_at"],
            state=RedemptionState(row["state"]),
            variables=from_json_map(row["variables"]),
            refused=row["state"] == RedemptionState.UNDELIVERABLE.value and row["refusals"] > 0,
            input_schema=row.get("input_schema"),
        )

    def typed_in(self) -> dict[str, TypedValue]:
        """The values the person typed into the form, in the order of the schema's properties.

        Bound variables win over typed ones (a schema may not name a bound variable), so the
        typed-in values are exactly the answer's variables the schema has a property for.
        """
        if not self.input_schema:
            return {}
        names = self.input_schema.get("properties") or {}
        return {name: self.variables[name] for name in names if name in self.variables}


@dataclass(frozen=True)
class LinkView:
    """A link with its group and the group's latest answer, for pages that only read."""

    link: Link
    group: Group
    answer: Answer | None


@dataclass(frozen=True)
class Delivery:
    """An answer to correlate into Camunda: the message, its target, and its variables."""

    redemption_id: RedemptionId
    link_id: LinkId
    group_id: GroupId
    message_name: str
    correlate_by: CorrelateBy
    process_instance_id: ProcessInstanceId
    business_key: str | None
    tenant_id: str | None
    correlation_keys: Mapping[str, TypedValue]
    variables: Mapping[str, TypedValue]
    answered_at: dt.datetime
    # Attempts claimed so far, this one included (0 before the first claim); the claim's
    # number fences the outcome: a newer attempt's claim makes this one's result void.
    attempts: int
    # Attempts so far that the engine refused deterministically (see linkserver.retry).
    refusals: int = 0
    # Who the links were sent to, passed on so the process knows who answered.
    recipient: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Delivery:
        """A ``redemptions`` row joined with its link's group (``deliveries._delivery_query``)."""
        return cls(
            redemption_id=RedemptionId(row["id"]),
            link_id=LinkId(row["link_id"]),
            group_id=GroupId(row["group_id"]),
            message_name=row["message_name"],
            correlate_by=CorrelateBy(row["correlate_by"]),
            process_instance_id=ProcessInstanceId(row["process_instance_id"]),
            business_key=row["business_key"],
            tenant_id=row["tenant_id"],
            correlation_keys=from_json_map(row["correlation_keys"]),
            variables=from_json_map(row["variables"]),
            answered_at=row["answered_at"],
            attempts=row["attempts"],
            refusals=row["refusals"],
            recipient=row["recipient"],
        )


@dataclass(frozen=True)
class IssuedGroup:
    group_id: GroupId
    expires_at: dt.datetime
    tokens: Mapping[str, str] = field(repr=False)  # action name -> token; never logged
    reissued: bool


@dataclass(frozen=True)
class ClientInfo:
    ip_hash: str | None = None
    user_agent: str | None = None
