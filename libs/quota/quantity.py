"""Kubernetes quantities as integers, so quota arithmetic is exact and fast.

Every resource is stored as an int in its canonical unit: ``cpu`` in millicores,
every other resource (memory, nvidia.com/gpu, pods, ...) in whole base units,
rounded up. Comparing ints keeps the cycle deterministic (no float drift).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}

#: Resources whose canonical unit is a thousandth of the base unit.
MILLI_RESOURCES = frozenset({"cpu"})

#: The largest amount a Kubernetes quantity holds (an int64 of its canonical unit).
MAX_AMOUNT = 2**63 - 1


class QuantityError(ValueError):
    """Raised when a quantity string cannot be parsed."""


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
    """Returns ``value`` in the canonical integer unit of ``resource`` (ceil)."""
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
