"""The link server's client for the engine: correlate an answer, and ask what happened to it.

Every HTTP or transport failure is translated here into a CorrelationResult; nothing above
this module sees aiohttp client exceptions.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from linkserver.outcomes import Attempt, CorrelationResult, Visibility
from tokenstore.model import Delivery
from tokenstore.types import CorrelateBy
from tokenstore.variables import TypedValue
from tokenstore.vocabulary import (
    ANSWER_MARKER_PREFIX,
    RECIPIENT_VARIABLE,
    REDEMPTION_ID_VARIABLE,
)

log = logging.getLogger(__name__)

NO_MATCH_MARKER = "No process definition or execution matches the parameters"
AMBIGUOUS_MARKER = "to a single execution"
# Exception types in an engine's error body that mean "this request can never succeed as it
# is" (a value too long for its column, a value of the wrong type): sending it again is futile.
# A plain ProcessEngineException is left out: it also wraps passing troubles.
REFUSING_EXCEPTIONS = frozenset(
    {
        "ProcessEnginePersistenceException",
        "InvalidRequestException",
        "RestException",
        "NotValidException",
        "NullValueException",
        "BadUserRequestException",
        "SpinDataFormatException",
    }
)
# A 500 of these is a race inside the engine (another transaction won): trying later works.
TRANSIENT_EXCEPTIONS = frozenset({"OptimisticLockingException", "CrdbTransactionRetryException"})
# What the history says of an instance that will never take another message.
ENDED_STATES = frozenset({"COMPLETED", "EXTERNALLY_TERMINATED", "INTERNALLY_TERMINATED"})


def answer_marker(delivery: Delivery) -> str:
    return ANSWER_MARKER_PREFIX + delivery.redemption_id.hex


class CamundaClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: dt.timedelta) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            headers={"Accept": "application/json", **headers},
            timeout=aiohttp.ClientTimeout(total=timeout.total_seconds()),
        )

    async def close(self) -> None:
        await self._session.close()

    async def correlate(self, delivery: Delivery) -> Attempt:
        body = correlation_body(delivery)
        try:
            async with self._session.post(f"{self.base_url}/message", json=body) as response:
                text = await response.text()
                status = response.status
        except aiohttp.ClientConnectorError as exc:  # never reached the engine
            return Attempt(CorrelationResult.UNREACHABLE, f"{type(exc).__name__}: {exc}"[:500])
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}"[:500]
            return Attempt(CorrelationResult.UNREACHABLE, detail, maybe_arrived=True)
        return classify(status, text)

    async def instance_visibility(self, process_instance_id: str) -> Visibility:
        """Whether the instance runs, has ended, or cannot be seen at all.

        A 404 from the runtime API is no proof of an end: the engine also hides instances
        the user may not read or whose tenant it is not a member of. Only the history's
        ``state`` (or ``endTime``) says that an instance has ended.
        """
        runtime = await self._get_json(f"{self.base_url}/process-instance/{process_instance_id}")
        if runtime is None:
            return Visibility.UNKNOWN
        if runtime.status == 200:
            return Visibility.RUNNING
        history = await self._get_json(
            f"{self.base_url}/history/process-instance/{process_instance_id}"
        )
        if history is None:
            return Visibility.UNKNOWN
        return visibility_of(runtime.status, history.status, history.body)

    async def _get_json(self, url: str) -> _Response | None:
        try:
            async with self._session.get(url) as response:
                text = await response.text()
                return _Response(response.status, _json_or_none(text))
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return None

    async def redemption_arrived(self, delivery: Delivery) -> bool | None:
        """Did an earlier attempt with this redemption id reach the process? None: cannot tell.

        Needs history level ``audit`` or higher on the engine (Camunda Run's default). The
        id is unique, so no instance filter: by business key or correlation keys the message
        may have reached another instance than the one that issued the link.
        """
        params = {"variableName": answer_marker(delivery)}
        try:
            async with self._session.get(
                f"{self.base_url}/history/variable-instance/count", params=params
            ) as response:
                if response.status != 200:
                    return None
                payload = await response.json()
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("count"), int):
            return None
        return bool(payload["count"] > 0)


@dataclass(frozen=True)
class _Response:
    status: int
    body: Any


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def visibility_of(runtime_status: int, history_status: int, history: Any) -> Visibility:
    """The pure rule behind ``instance_visibility``: only the history proves an end."""
    if runtime_status == 200:
        return Visibility.RUNNING
    if runtime_status not in (403, 404):
        return Visibility.UNKNOWN
    if history_status in (403, 404):
        return Visibility.INVISIBLE
    if history_status != 200 or not isinstance(history, dict):
        return Visibility.UNKNOWN
    if history.get("state") in ENDED_STATES or history.get("endTime"):
        return Visibility.ENDED
    # The history shows it running while the runtime API hides it (READ_HISTORY without
    # READ): it runs, so the not-yet window applies as usual.
    return Visibility.RUNNING


def engine_exception(text: str) -> str | None:
    """The exception type an engine error body names (``{"type": …, "message": …}``)."""
    body = _json_or_none(text)
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        return str(body["type"])
    return None


def _typed(values: dict[str, TypedValue] | Any) -> dict[str, dict[str, Any]]:
    return {name: value.to_json() for name, value in values.items()}


def correlation_body(delivery: Delivery) -> dict[str, Any]:
    """The ``POST /message`` body: only plain typed values, the redemption id, the recipient."""
    variables = _typed(delivery.variables)
    variables[REDEMPTION_ID_VARIABLE] = {"type": "String", "value": str(delivery.redemption_id)}
    variables[answer_marker(delivery)] = {"type": "Boolean", "value": True}
    if delivery.recipient is not None:
        variables[RECIPIENT_VARIABLE] = {"type": "String", "value": delivery.recipient}
    body: dict[str, Any] = {
        "messageName": delivery.message_name,
        "processVariables": variables,
        "resultEnabled": True,
    }
    if delivery.correlate_by is CorrelateBy.PROCESS_INSTANCE:
        body["processInstanceId"] = delivery.process_instance_id
    elif delivery.correlate_by is CorrelateBy.BUSINESS_KEY:
        body["businessKey"] = delivery.business_key
    if delivery.correlation_keys:
        body["correlationKeys"] = _typed(delivery.correlation_keys)
    # The engine refuses a tenant next to a process instance id: the instance implies it.
    if delivery.correlate_by is not CorrelateBy.PROCESS_INSTANCE:
        if delivery.tenant_id:
            body["tenantId"] = delivery.tenant_id
        else:
            body["withoutTenantId"] = True
    return body


def classify(status: int, text: str) -> Attempt:
    if 200 <= status < 300:
        return Attempt(CorrelationResult.DELIVERED)
    if status == 400 and NO_MATCH_MARKER in text:
        return Attempt(CorrelationResult.NO_MATCH, text[:500])
    if status == 400 and AMBIGUOUS_MARKER in text:
        return Attempt(CorrelationResult.AMBIGUOUS, text[:500])
    exception = engine_exception(text)
    if status == 400 or (status == 500 and exception in REFUSING_EXCEPTIONS):
        # The engine read the request and refused it for good; its transaction rolled back.
        return Attempt(CorrelationResult.REFUSED, _refusal(status, exception, text))
    if status == 500 and exception in TRANSIENT_EXCEPTIONS:
        # The engine answered and rolled back: nothing arrived, and a later try may pass.
        return Attempt(CorrelationResult.UNREACHABLE, _refusal(status, exception, text))
    if status >= 500:
        # A gateway's 502/504 can come while the engine still works on the request.
        return Attempt(CorrelationResult.UNREACHABLE, f"HTTP {status}: {text[:400]}", True)
    if status in (408, 429):
        return Attempt(CorrelationResult.UNREACHABLE, f"HTTP {status}: {text[:400]}")
    return Attempt(CorrelationResult.REJECTED, f"HTTP {status}: {text[:400]}")


def _refusal(status: int, exception: str | None, text: str) -> str:
    body = _json_or_none(text)
    message = body.get("message") if isinstance(body, dict) else None
    detail = message if isinstance(message, str) else text
    return f"HTTP {status} {exception or 'error'}: {detail[:300]}"
