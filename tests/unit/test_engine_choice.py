"""Which engine the fixtures bring up: ACTION_LINKS_TEST_ENGINE, Camunda 7 by default."""

from __future__ import annotations

import pytest

from devstack import ServiceUnavailable
from devstack.engine import CAMUNDA, ENGINE_VARIABLE, OPERATON, selected_engine


def test_camunda_when_nothing_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINE_VARIABLE, raising=False)
    assert selected_engine() is CAMUNDA


@pytest.mark.parametrize(("value", "engine"), [("operaton", OPERATON), (" Camunda ", CAMUNDA)])
def test_the_variable_picks_the_engine(
    monkeypatch: pytest.MonkeyPatch, value: str, engine: object
) -> None:
    monkeypatch.setenv(ENGINE_VARIABLE, value)
    assert selected_engine() is engine


def test_an_unknown_engine_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_VARIABLE, "zeebe")
    with pytest.raises(ServiceUnavailable, match=r"'zeebe'.*camunda, operaton"):
        selected_engine()


def test_each_engine_builds_to_a_jar_of_its_own() -> None:
    """Both jars live side by side, so CI can build both and run the suite twice."""
    assert CAMUNDA.jar != OPERATON.jar
    assert "-Poperaton" in OPERATON.maven_goals
    assert "-Poperaton" not in CAMUNDA.maven_goals
