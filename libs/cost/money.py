"""Money as integer micro-dollars, and exact apportionment.

Every amount in the cost core is an ``int`` of micro-dollars (1 USD = 1_000_000 micros).
Intermediate shares are exact ``Fraction``s; they become integers only through
:func:`largest_remainder`, so a split always sums to its total to the micro-dollar.
Floats never appear.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

MICROS_PER_DOLLAR = 1_000_000

Micros = int
"""An amount of money in micro-dollars (1e-6 USD)."""


def to_micros(dollars: Decimal | str | int) -> Micros:
    """Returns ``dollars`` as micros, rounding half-even below one micro-dollar.

    Accepts ``Decimal``, a decimal string (``"3.06"``) or an int; rejects floats so a
    binary-float price can never slip into the ledger.
    """
    if isinstance(dollars, float):
        raise TypeError("prices must be Decimal, str or int, never float")
    scaled = Decimal(dollars) * MICROS_PER_DOLLAR
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def format_dollars(micros: Micros) -> str:
    """Returns ``micros`` as a dollar string with six decimals, e.g. ``-0.000001``."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_DOLLAR)
    return f"{sign}{whole}.{frac:06d}"


def round_half_even(value: Fraction) -> int:
    """Returns ``value`` rounded to the nearest integer, ties to even (banker's rounding)."""
    return round(value)  # Fraction.__round__ is exact and rounds half to even


def amortised_hourly_micros(
    capex: Micros, lifetime_hours: int, opex_per_hour: Micros = 0
) -> Micros:
    """Returns the hourly price of an owned machine: capex spread over its life plus opex.

    On-prem hardware has no list price; finance amortises the purchase linearly over
    ``lifetime_hours`` (e.g. 4 years = 35_064 h) and adds power, space and support.
    """
    if lifetime_hours <= 0:
        raise ValueError("lifetime_hours must be positive")
    return round_half_even(Fraction(capex, lifetime_hours)) + opex_per_hour


def largest_remainder(
    total: Micros, exact: Mapping[K, Fraction], *, order_key: Callable[[K], str] = repr
) -> dict[K, Micros]:
    """Returns integer amounts that sum to ``total`` exactly, each within one micro of its share.

    ``exact`` must already sum to ``total``. Every party gets the floor of its exact
    amount; the micros left over go one each to the largest fractional remainders.
    Ties are broken by ``order_key`` of the party, never by input order, so the result
    is a pure function of the *set* of parties (delivery order cannot change it).
    """
    den = math.lcm(*(v.denominator for v in exact.values())) if exact else 1
    nums = {k: v.numerator * (den // v.denominator) for k, v in exact.items()}
    return largest_remainder_of(total, nums, den, order_key=order_key)


def largest_remainder_of(
    total: Micros, numerators: Mapping[K, int], denominator: int, *,
    order_key: Callable[[K], str] = repr,
) -> dict[K, Micros]:
    """Same as :func:`largest_remainder`, with exact amounts given as ``numerator / denominator``."""
    if denominator <= 0 or sum(numerators.values()) != total * denominator:
        raise ValueError("exact shares must sum to the total")
    floors = {k: n // denominator for k, n in numerators.items()}
    left = total - sum(floors.values())
    ranked = sorted(numerators, key=lambda k: (-(numerators[k] % denominator), order_key(k)))
    for k in ranked[:left]:
        floors[k] += 1
    return floors
