"""The web view's query parameters, checked before anything is read: a bad one is a 400 with a reason code."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from libs.admission.spec import WORKLOAD_ID as ADMITTED_ID

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$")  # queue and pool names: DNS-ish labels, org/team paths
MAX_DAYS = 366
WORKLOAD_ID = re.compile(ADMITTED_ID)  # admission accepts no other id, so nothing else has a timeline


class BadParameter(Exception):
    """A query parameter the view refuses: ``reason`` (a code) and the message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ViewParams:
    """What the caller asked to see."""

    queue: str | None = None  # only this cluster or local queue's pending workloads
    pool: str | None = None  # only this pool's nodes
    days: int = 7  # cost: this many days, up to the latest day the ledger holds


def parse_params(items: Iterable[tuple[str, str]]) -> ViewParams:
    """Returns the view's parameters from the query's (name, value) pairs; raises BadParameter on anything else."""
    seen: dict[str, str] = {}
    for name, value in items:
        if name not in ("queue", "pool", "days"):
            raise BadParameter("unknown_parameter", f"unknown query parameter {name[:40]!r}; use queue, pool or days")
        if name in seen:
            raise BadParameter("repeated_parameter", f"query parameter {name!r} given more than once")
        seen[name] = value.strip()
    return ViewParams(queue=_name(seen, "queue"), pool=_name(seen, "pool"), days=_days(seen.get("days")))


def _name(seen: dict[str, str], key: str) -> str | None:
    value = seen.get(key) or None
    if value is not None and not NAME.match(value):
        raise BadParameter(f"bad_{key}", f"{key} {value[:60]!r} is not a {key} name (letters, digits, . _ / -)")
    return value


def _days(text: str | None) -> int:
    if not text:
        return ViewParams.days
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise BadParameter("bad_days", f"days {text[:20]!r} is not a whole number from 1 to {MAX_DAYS}")
    return int(text)


def parse_workload_id(text: str | None) -> str:
    """Returns the workload id of a path or the look-up form; raises BadParameter unless it could be one (admission
    accepts no other, so nothing else has a timeline)."""
    value = (text or "").strip()
    if not value:
        raise BadParameter("bad_workload", "no workload id given")
    if not WORKLOAD_ID.fullmatch(value):
        raise BadParameter("bad_workload", f"{value[:60]!r} is not a workload id (up to 128 letters, digits, . _ -, "
                           "starting with a letter or digit)")
    return value
