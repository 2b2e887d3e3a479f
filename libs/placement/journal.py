"""Trials of a snapshot (Kueue SimulateUsageRemoval-style): checkpoint, then roll back or commit.

While a checkpoint is open every mutation appends an undo record; ``rollback(token)`` pops and
undoes them in reverse order, restoring the exact previous state (same slots, same order).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass
class Trial:
    """An open trial of a snapshot (see ``Snapshot.trial``)."""

    token: int  # journal position to roll back to
    kept: bool = False  # keep the changes on exit

    def keep(self) -> None:
        """Keep the trial's changes when the ``with`` block ends."""
        self.kept = True


class TrialJournal:
    """Mixin of ``Snapshot``: the undo journal. The host provides bind/unbind and slot writers."""

    def open_journal(self) -> None:
        """Initialise an empty journal (called by the host's constructor)."""
        self._journal: list[tuple] = []  # undo records while a checkpoint is open
        self._depth = 0  # number of open checkpoints

    def checkpoint(self) -> int:
        """Open a trial; return a token for ``rollback`` / ``commit``. Trials nest."""
        self._depth += 1
        return len(self._journal)

    def rollback(self, token: int) -> None:
        """Undo every change made since ``checkpoint()`` returned ``token``, then close the trial."""
        while len(self._journal) > token:
            self._undo(self._journal.pop())
        self._close(token)

    @contextmanager
    def trial(self) -> Iterator["Trial"]:
        """Context manager: changes inside are rolled back on exit unless ``trial.keep()`` was called."""
        t = Trial(self.checkpoint())
        try:
            yield t
        finally:
            (self.commit if t.kept else self.rollback)(t.token)

    def commit(self, token: int) -> None:
        """Keep the changes made since ``token`` and close the trial."""
        self._close(token)

    def _close(self, token: int) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._journal.clear()

    def _record(self, entry: tuple) -> None:
        if self._depth:
            self._journal.append(entry)

    def _undo(self, entry: tuple) -> None:
        depth, self._depth = self._depth, 0  # undo steps are not journaled
        try:
            self._undo_one(entry)
        finally:
            self._depth = depth

    def _undo_one(self, entry: tuple) -> None:
        kind = entry[0]
        if kind == "bind":
            self.unbind(entry[1])
        elif kind == "unbind":
            self.bind(entry[1])
        elif kind == "add":
            _, slot, from_free = entry
            self._clear_slot(slot)
            if from_free:
                self._free_slots.append(slot)
            else:
                self.size -= 1
                self.specs.pop()
                self.pods_on.pop()
        else:  # "update" or "remove": restore spec and GPU row in place
            _, slot, spec, row = entry
            if kind == "remove":
                assert self._free_slots.pop() == slot
            self.gpu_left[slot] = 0  # the GPU axis may have grown since the row was saved
            self.gpu_left[slot, : len(row)] = row
            self._write_spec(slot, spec)
