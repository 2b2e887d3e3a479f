"""A binary built once into the cache: under a file lock (two runs never build at once, the second waits), into a
staging directory renamed into place when whole (a half-built cache is never mistaken for a whole one)."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Callable
from pathlib import Path

COMPLETE = ".complete"  # written last into a whole build


def cached(target: Path, build: Callable[[Path], None]) -> Path:
    """Returns ``target`` once it holds a whole build, calling ``build(staging)`` first if it does not."""
    if (target / COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for it
        if not (target / COMPLETE).exists():
            staging = Path(str(target) + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            build(staging)
            (staging / COMPLETE).write_text(target.name)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)  # atomic
    return target


def is_built(target: Path) -> bool:
    return (target / COMPLETE).exists()
