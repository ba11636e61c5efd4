"""Errors of the token store; each docstring is the message a person sees."""

from __future__ import annotations


class TokenStoreError(Exception):
    """The token store failed."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        message = (self.__doc__ or "").strip()
        super().__init__(f"{message} {detail}" if detail else message)


class InvalidToken(TokenStoreError):
    """This link is not valid."""


class InvalidVariable(TokenStoreError):
    """A variable is not a plain typed value (String, Boolean, Integer, Long, Double, Date)."""


class InvalidInput(TokenStoreError):
    """The answer does not fit the form."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class GroupAlreadyUsed(TokenStoreError):
    """The task was delivered again, but its links are already in use; they stay as they are."""


class StoreUnavailable(TokenStoreError):
    """The link database cannot be reached right now."""

    def __init__(
        self, detail: str | None = None, *, transient: bool = True, reason: str | None = None
    ) -> None:
        # False: the database answered with an error of the query, not of the connection.
        self.transient = transient
        # The driver's own first line ("connection refused", "database … does not exist"):
        # it names host and port, never the password.
        self.reason = reason or detail or ""
        super().__init__(detail)


class Conflict(TokenStoreError):
    """A write conflicts with a row already there."""

    def __init__(self, constraint_name: str | None) -> None:
        self.constraint_name = constraint_name
        super().__init__(constraint_name)
