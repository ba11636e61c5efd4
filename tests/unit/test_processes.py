from __future__ import annotations

import pytest

from linkserver.processes import ProcessSlot, pool_size_for


@pytest.mark.parametrize(("count", "size"), [(1, 10), (2, 5), (3, 3), (8, 2)])
def test_the_processes_share_out_one_servers_connections(count: int, size: int) -> None:
    assert pool_size_for(ProcessSlot(0, count), 10) == size


def test_only_the_first_process_is_first() -> None:
    assert ProcessSlot().first and not ProcessSlot(1, 2).first
