"""The hooks a handler leaves for after the commit (or the rollback)."""

import pytest

from libs.platform.unit_of_work import UnitOfWork


@pytest.mark.asyncio
async def test_hooks_run_in_order_whatever_they_return():
    """A plain callable's result is not awaited: the Kubernetes connector's `lambda wid: (a(wid), b())` returned a
    tuple, and awaiting it failed every batch of events after its transaction had committed."""
    ran: list[str] = []

    async def later() -> None:
        ran.append("coroutine")

    uow = UnitOfWork(conn=None, producer="test", namespace="t")
    uow.after_commit(lambda: (ran.append("tuple"), ran.append("tuple too")))
    uow.after_commit(later)
    uow.after_commit(lambda: ran.append("none"))
    await uow.run_after_commit()
    assert ran == ["tuple", "tuple too", "coroutine", "none"]


@pytest.mark.asyncio
async def test_rollback_hooks_run_only_on_rollback():
    ran: list[str] = []
    uow = UnitOfWork(conn=None, producer="test", namespace="t")
    uow.on_rollback(lambda: ran.append("undo") or 0)
    uow.after_commit(lambda: ran.append("apply"))
    await uow.run_on_rollback()
    assert ran == ["undo"]
