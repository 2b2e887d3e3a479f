"""Small process helpers shared by the local Kafka and PostgreSQL servers."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _prctl():
    """Returns libc's prctl, looked up now: in the child, after a switch to another user, imports may fail."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def die_with_parent() -> None:
    """For ``Popen(preexec_fn=...)``: the child gets SIGTERM when the process that started it dies, even by
    SIGKILL (Linux; elsewhere a no-op), so a killed test run or demo leaves no servers behind."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class InfraError(RuntimeError):
    """A local server could not be fetched, started or stopped; the message says why and where to look."""


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine to completion on its own loop in a worker thread: safe inside or outside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    """Returns True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, proc: subprocess.Popen | None,
               log: Path | None) -> None:
    """Polls ``check`` until it is true; raises InfraError with the log tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise InfraError(f"{what} exited with code {proc.returncode} during start-up\n{tail(log)}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - the server is not ready yet; any failure means "try again"
            pass
        time.sleep(0.2)
    raise InfraError(f"{what} did not become ready within {timeout:.0f}s\n{tail(log)}")


def tail(log: Path | None, lines: int = 30) -> str:
    """Returns the last lines of a log file, for error messages."""
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last lines of {log} ---\n" + "\n".join(text)


def stop_group(pid: int, *, timeout: float = 20.0) -> None:
    """Stops a process group started with start_new_session: SIGTERM, then SIGKILL after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def kill_group(pid: int, *, timeout: float = 10.0) -> None:
    """SIGKILLs a process group started with start_new_session (no shutdown, no flush) and waits until it is gone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fall back to signal 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
