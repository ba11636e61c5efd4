"""Errors of the worker; each docstring is the message a person sees."""

from __future__ import annotations


class WorkerError(Exception):
    """The worker failed."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        message = (self.__doc__ or "").strip()
        super().__init__(f"{message} {detail}" if detail else message)


class ModelingError(WorkerError):
    """The BPMN model gives this task inputs it cannot use."""


class EngineError(WorkerError):
    """The Camunda engine refused or did not answer a request."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(detail)

    @property
    def transient(self) -> bool:
        """No answer, or a server-side error: trying again later may work."""
        return self.status is None or self.status >= 500


class InstanceNotVisible(EngineError):
    """Cannot see the process instance: check the worker's engine permissions and tenants."""

    @property
    def transient(self) -> bool:
        # A grant or a tenant membership an operator can add; never proof the instance ended.
        return True


class AdminListenError(WorkerError):
    """The worker cannot listen on its admin address (ACTION_LINKS_WORKER_ADMIN_LISTEN):"""


class ChannelRefused(ModelingError):
    """The receiving server refused the message for good; fix the cause, then retry:"""


class ChannelUnavailable(WorkerError):
    """The mail server or webhook receiver did not take the message; the task is retried:"""
