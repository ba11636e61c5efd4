"""The BPMN models the tests deploy, kept as ``.bpmn`` files in ``tests/support/models``."""

from __future__ import annotations

from pathlib import Path

MODELS = Path(__file__).resolve().parent / "models"


def model_xml(name: str) -> str:
    """The XML of ``models/<name>.bpmn``."""
    return (MODELS / f"{name}.bpmn").read_text()
