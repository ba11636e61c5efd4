"""The database boundary: driver errors leave ``tokenstore.db`` as the store's own."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy.exc as sa_exc

from tokenstore.db import wrap_exceptions
from tokenstore.errors import Conflict, StoreUnavailable
from worker.outcome import is_transient


class _Diag:
    constraint_name = "links_token_hash_key"


class _UniqueViolation(psycopg.errors.UniqueViolation):
    @property
    def diag(self) -> _Diag:  # type: ignore[override]
        return _Diag()


def test_a_unique_violation_is_a_conflict_named_by_its_constraint() -> None:
    with pytest.raises(Conflict) as caught, wrap_exceptions():
        raise sa_exc.IntegrityError("INSERT", {}, _UniqueViolation("duplicate key"))
    assert caught.value.constraint_name == "links_token_hash_key"
    assert isinstance(caught.value.__cause__, sa_exc.IntegrityError)


@pytest.mark.parametrize(
    "error",
    [
        sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")),
        sa_exc.InterfaceError("SELECT 1", {}, Exception("closed")),
        sa_exc.TimeoutError("QueuePool limit reached"),
        ConnectionRefusedError(111, "refused"),
        psycopg.OperationalError("connection failed"),
    ],
)
def test_connection_problems_are_a_transient_unavailable_store(error: Exception) -> None:
    with pytest.raises(StoreUnavailable) as caught, wrap_exceptions():
        raise error
    assert caught.value.transient
    assert is_transient(caught.value)
    assert caught.value.__cause__ is error


def test_a_fault_of_the_query_is_not_transient() -> None:
    with pytest.raises(StoreUnavailable) as caught, wrap_exceptions():
        raise sa_exc.ProgrammingError("SELECT nope", {}, Exception('column "nope" does not exist'))
    assert not caught.value.transient
    assert not is_transient(caught.value)
    assert caught.value.reason == 'column "nope" does not exist'


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), wrap_exceptions():
        raise KeyError("not the database's")
