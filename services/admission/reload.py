"""A config file that is re-read when it changes, keeping the last good version if an edit is broken.

Keys rotate and policies change without a restart: admission asks ``current()`` on every decision;
at most once per ``interval_s`` that stats the file, and re-parses it only when its mtime or size moved.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger("batchyard.admission.reload")
T = TypeVar("T")


class HotFile(Generic[T]):
    """The parsed content of one file, refreshed from disk when it changes."""

    def __init__(self, path: str | Path, parse: Callable[[Path], T], *, interval_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)  # the file watched
        self.parse = parse  # file -> value; raises on a broken file
        self.interval_s = interval_s  # least time between two stats of the file
        self.clock = clock  # monotonic seconds
        self.reloads = 0  # successful re-reads after the first load
        self.errors = 0  # broken edits seen (the last good value stayed in force)
        self._stamp = self._stat()
        self._value: T = parse(self.path)  # the first load must succeed: fail fast at start-up
        self._checked = clock()

    def current(self) -> T:
        """Returns the latest good value, re-reading the file if it changed since the last check."""
        now = self.clock()
        if now - self._checked >= self.interval_s:
            self._checked = now
            self.refresh()
        return self._value

    def refresh(self) -> bool:
        """Re-reads the file if its mtime or size changed; returns whether a new value is in force."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self._value = self.parse(self.path)
        except Exception as exc:  # noqa: BLE001 - an operator's broken edit must not take admission down
            self.errors += 1
            log.error("%s changed but is invalid, keeping the previous version: %s", self.path, exc)
            return False
        self.reloads += 1
        log.info("reloaded %s", self.path)
        return True

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size
