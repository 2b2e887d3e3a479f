"""The status writer marks statuses written in workload id order: the order in which a batch of the connector's
handlers locks the same rows (rows.Rows.load), so the two never wait on each other in a circle."""

from __future__ import annotations

from services.kube_connector import repository as repo


class Recording:
    def __init__(self) -> None:
        self.args: list = []

    async def executemany(self, query: str, args) -> None:
        self.args = list(args)


async def test_statuses_are_marked_in_workload_id_order():
    conn = Recording()
    await repo.mark_written(conn, [("w-c", 3, 1), ("w-a", 1, 0), ("w-b", 2, 2)])
    assert [a[0] for a in conn.args] == ["w-a", "w-b", "w-c"]
