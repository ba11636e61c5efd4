"""Count the attempts the engine refused for good, so a bounded number ends an answer.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "redemptions",
        sa.Column("refusals", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("redemptions", "refusals")
