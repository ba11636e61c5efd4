from __future__ import annotations

import pytest

from worker.daemon import slots_to_fill


@pytest.mark.parametrize(
    ("max_tasks", "in_flight", "fetch"),
    [
        (10, 0, 10),
        (10, 4, 6),
        (10, 5, 5),  # half the slots free: a batch worth a fetch
        (10, 6, 0),  # fewer: wait for more to finish, not a fetch per finished task
        (10, 10, 0),
        (1, 0, 1),
        (1, 1, 0),
        (3, 2, 1),
        (3, 3, 0),
    ],
)
def test_a_fetch_waits_for_half_the_slots(max_tasks: int, in_flight: int, fetch: int) -> None:
    assert slots_to_fill(max_tasks, in_flight) == fetch
