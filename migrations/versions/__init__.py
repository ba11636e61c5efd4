"""Alembic revisions of the product's tables."""
