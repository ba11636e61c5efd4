"""The link tables. Migrations in ``migrations/`` create exactly these; ``alembic check`` agrees."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from tokenstore.types import LinkState, RedemptionState

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TZ = sa.DateTime(timezone=True)


def _in(column: str, values: type[LinkState] | type[RedemptionState]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


link_groups = sa.Table(
    "link_groups",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("external_task_id", sa.Text, nullable=False),
    sa.Column("process_instance_id", sa.Text, nullable=False),
    sa.Column("process_definition_key", sa.Text),
    sa.Column("business_key", sa.Text),
    sa.Column("tenant_id", sa.Text),
    sa.Column("activity_id", sa.Text, nullable=False),
    sa.Column("message_name", sa.Text, nullable=False),
    sa.Column("correlate_by", sa.Text, nullable=False),
    sa.Column("correlation_keys", pg.JSONB, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("description", sa.Text),
    # Who the links were sent to (an address or a user id), as the model named them.
    sa.Column("recipient", sa.Text),
    # What the person is asked about: [{"label": …, "value": …}, …] in the model's order (a
    # list, since jsonb keeps no key order), values with their JSON type.
    sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'[]'")),
    # Pinned by the task: the pages' language (a BCP 47 tag, de-CH) and time zone (IANA name).
    sa.Column("locale", sa.Text),
    sa.Column("time_zone", sa.Text),
    sa.Column("exclusive", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("expires_at", TZ, nullable=False),
    sa.UniqueConstraint("external_task_id"),
    sa.Index(None, "process_instance_id"),
    sa.Index(None, "expires_at"),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "group_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("link_groups.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("position", sa.SmallInteger, nullable=False),
    sa.Column("token_hash", sa.LargeBinary, nullable=False),
    sa.Column("variables", pg.JSONB, nullable=False, server_default=sa.text("'{}'")),
    # json, not jsonb: jsonb reorders keys, and a form shows its fields in the model's order.
    sa.Column("input_schema", pg.JSON),
    sa.Column("max_uses", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("uses", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("state", sa.Text, nullable=False, server_default=LinkState.ACTIVE.value),
    sa.Column("revoked_reason", sa.Text),
    sa.Column("changed_at", TZ),
    sa.UniqueConstraint("token_hash"),
    sa.UniqueConstraint("group_id", "action"),
    sa.CheckConstraint(_in("state", LinkState), name="state"),
    sa.CheckConstraint("max_uses >= 1 AND uses >= 0 AND uses <= max_uses", name="uses"),
)

# One row per use of a link: the answer as given, and where its delivery to Camunda stands.
redemptions = sa.Table(
    "redemptions",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "link_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("links.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("variables", pg.JSONB, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("answered_at", TZ, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    # Attempts the engine refused for good reasons of its own (the answer can never be
    # stored as it is); a bounded number of them makes the answer undeliverable.
    sa.Column("refusals", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_attempt_at", TZ),
    sa.Column("settled_at", TZ),
    sa.Column("last_error", sa.Text),
    sa.CheckConstraint(_in("state", RedemptionState), name="state"),
    sa.Index(None, "link_id"),
    sa.Index(
        "ix_redemptions_due",
        "next_attempt_at",
        postgresql_where=sa.text("state = 'pending'"),
    ),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("at", TZ, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    # No foreign keys: the trail outlives the groups the reaper deletes.
    sa.Column("group_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("link_id", pg.UUID(as_uuid=True)),
    sa.Column("redemption_id", pg.UUID(as_uuid=True)),
    sa.Column("outcome", sa.Text),
    sa.Column("client_ip_hash", sa.Text),
    sa.Column("user_agent", sa.Text),
    sa.Column("detail", pg.JSONB),
    sa.Index(None, "group_id"),
    sa.Index(None, "at"),
)

# One row per channel task (send-links-email, …), keyed by its external task id: a task the
# engine delivers again finds the row and sends nothing twice.
sends = sa.Table(
    "sends",
    metadata,
    sa.Column("external_task_id", sa.Text, primary_key=True),
    sa.Column("channel", sa.Text, nullable=False),
    # Reaped with its group: a task delivered after that finds no group and stops anyway.
    sa.Column(
        "group_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("link_groups.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Kept from the first attempt, so a send whose outcome is unknown is retried as the same
    # message (receivers and mail servers drop duplicates by it).
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("sent_at", TZ),
    sa.CheckConstraint("state IN ('sending', 'sent')", name="state"),
    sa.Index(None, "group_id"),
)
