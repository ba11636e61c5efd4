"""Keep who a group's links were sent to: an address or a user id, as the model named them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites nothing, and older groups have none.
    op.add_column("link_groups", sa.Column("recipient", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("link_groups", "recipient")
