"""The link server reads Camunda 7's and Operaton's error bodies alike.

The bodies are verbatim answers of Camunda 7.24.0 and Operaton 1.0.3 (the test engines in
tests/engine) to ``POST /message``. The two differ only in the exception's package inside
``message`` (``org.camunda…`` or ``org.operaton…``); ``type`` is a simple class name on
both, so the classification never depends on the engine.
"""

from __future__ import annotations

import json

import pytest

from linkserver.camunda import classify
from linkserver.outcomes import CorrelationResult

AMBIGUOUS = (
    "{package}.bpm.engine.MismatchingMessageCorrelationException: ENGINE-13031 Cannot "
    "correlate a message with name 'decision' to a single execution. 2 executions match the "
    "correlation keys: CorrelationSet [businessKey=bk, processInstanceId=null, "
    "processDefinitionId=null, correlationKeys=null, localCorrelationKeys=null, tenantId=null, "
    "isTenantIdSet=false, isExecutionsOnly=false]"
)
NO_MATCH = (
    "{package}.bpm.engine.MismatchingMessageCorrelationException: Cannot correlate message "
    "'decision': No process definition or execution matches the parameters"
)
PERSISTENCE = (
    "An exception occurred in the persistence layer. Please check the server logs for a "
    "detailed message and the entire exception stack trace."
)
WRONG_TYPE = (
    "Cannot deliver message: Cannot convert value 'notanint' of type 'Integer' to java type "
    "java.lang.Integer"
)


def body(type_: str, message: str, code: int | None) -> str:
    return json.dumps({"type": type_, "message": message, "code": code})


@pytest.mark.parametrize("package", ["org.camunda", "org.operaton"])
@pytest.mark.parametrize(
    ("status", "type_", "message", "code", "expected"),
    [
        (400, "RestException", AMBIGUOUS, 0, CorrelationResult.AMBIGUOUS),
        (400, "RestException", NO_MATCH, 0, CorrelationResult.NO_MATCH),
        (500, "ProcessEnginePersistenceException", PERSISTENCE, 10002, CorrelationResult.REFUSED),
        (400, "InvalidRequestException", WRONG_TYPE, None, CorrelationResult.REFUSED),
    ],
)
def test_both_engines_answers_are_classified_alike(
    package: str,
    status: int,
    type_: str,
    message: str,
    code: int | None,
    expected: CorrelationResult,
) -> None:
    attempt = classify(status, body(type_, message.format(package=package), code))
    assert attempt.result is expected
