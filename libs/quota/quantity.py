"""Kubernetes quantities and durations: the one parser of units in batchyard (ADR 0018).

Every resource is stored as an int in its canonical unit: ``cpu`` in millicores,
every other resource (memory, nvidia.com/gpu, pods, ...) in whole base units,
rounded up. Comparing ints keeps the cycle deterministic (no float drift).
Durations are Go's (``metav1.Duration``: ``30s``, ``5m``, ``1h30m``, ``250ms``), or a number of seconds.
Spark's JVM memory sizes (``512m`` is MiB there) are read here too, as the Kubernetes quantity they mean.
Imports nothing of batchyard's, so every pure core and every service may use it.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"
_DURATION, _DURATION_PARTS = re.compile(f"(?:{_DURATION_PART})+"), re.compile(_DURATION_PART)
_JVM = re.compile(r"\s*(\d{1,30})\s*([kmgtp]?)b?\s*")

#: Resources whose canonical unit is a thousandth of the base unit.
MILLI_RESOURCES = frozenset({"cpu"})

#: The largest amount a Kubernetes quantity holds (an int64 of its canonical unit).
MAX_AMOUNT = 2**63 - 1

#: The longest duration read (Go's time.Duration is an int64 of nanoseconds: about 292 years).
MAX_SECONDS = MAX_AMOUNT / 1e9


class QuantityError(ValueError):
    """Raised when a quantity, duration or memory size cannot be parsed; the message says why."""


def _to_decimal(text: str) -> Decimal:
    """Returns the quantity in base units as an exact Decimal."""
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * factor
    for suffix in sorted(_DECIMAL, key=len, reverse=True):
        if suffix and text.endswith(suffix) and not text.lower().endswith("e" + suffix.lower()):
            return Decimal(text[: -len(suffix)]) * _DECIMAL[suffix]
    return Decimal(text)


def parse_quantity(resource: str, value: str | int | float) -> int:
    """Returns ``value`` in the canonical integer unit of ``resource`` (ceil); raises QuantityError."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError(f"{resource}: {value!r} is not a Kubernetes quantity")
    text = str(value).strip()
    try:
        amount = _to_decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise QuantityError(f"{resource}: {value!r} is not a Kubernetes quantity") from exc
    if not amount.is_finite():
        raise QuantityError(f"{resource}: {value!r} is not a finite quantity")
    if amount < 0:
        raise QuantityError(f"{resource}: {value!r} is negative")
    if resource in MILLI_RESOURCES:
        amount *= 1000
    if amount > MAX_AMOUNT:  # checked before ceil: 1e999999999 would otherwise build a billion-digit int
        raise QuantityError(f"{resource}: {value!r} is larger than a Kubernetes quantity can be")
    return int(math.ceil(amount))


def parse_duration(value: str | int | float) -> float:
    """Returns seconds for ``300``, ``"300s"``, ``"5m"``, ``"1h30m"`` or ``"1.5h"``; raises QuantityError."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() in ("0", "0s"):
        seconds = 0.0
    elif isinstance(value, str) and _DURATION.fullmatch(text := value.strip()):
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PARTS.findall(text))
    else:
        raise QuantityError(f"{value!r} is not a duration like 30s, 5m or 1h30m")
    if not 0 <= seconds <= MAX_SECONDS:  # also refuses NaN
        raise QuantityError(f"{value!r} is not a duration from 0 to {MAX_SECONDS:.0f}s")
    return seconds


def parse_jvm_memory(value: str | int) -> int:
    """Returns the bytes in a JVM memory size (``512m``, ``2g``, ``1024k``; a bare number is bytes)."""
    found = _JVM.fullmatch(str(value).lower()) if isinstance(value, (str, int)) else None
    if not found or isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a JVM memory size (e.g. 512m, 4g)")
    number, unit = found.groups()
    return parse_quantity("memory", number + (unit.upper() + "i" if unit else ""))


def format_quantity(resource: str, amount: int) -> str:
    """Returns a short human form of a canonical amount ("4", "500m", "36Gi")."""
    if resource in MILLI_RESOURCES:
        return str(amount // 1000) if amount % 1000 == 0 else f"{amount}m"
    if resource == "memory" or resource.endswith("storage"):
        for suffix in ("Ti", "Gi", "Mi", "Ki"):
            factor = _BINARY[suffix]
            if amount >= factor and amount % factor == 0:
                return f"{amount // factor}{suffix}"
    return str(amount)
