"""Money arithmetic and the time-versioned price catalog."""

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from cost_builders import T0, at
from hypothesis import given
from hypothesis import strategies as st

from libs.cost import (
    PriceCatalog,
    PriceKey,
    PriceLookupError,
    PriceVersion,
    PricingModel,
    amortised_hourly_micros,
    format_dollars,
    largest_remainder,
    to_micros,
)

KEY = PriceKey("aws-east", "gpu-a", "p5.48xlarge")


@pytest.mark.parametrize(
    ("dollars", "micros"),
    [
        pytest.param("3.06", 3_060_000, id="cents"),
        pytest.param(Decimal("98.3200005"), 98_320_000, id="half-even-down"),
        pytest.param(Decimal("0.0000015"), 2, id="half-even-up"),
        pytest.param(12, 12_000_000, id="int-dollars"),
    ],
)
def test_to_micros_is_exact(dollars, micros):
    assert to_micros(dollars) == micros


def test_to_micros_rejects_float():
    with pytest.raises(TypeError):
        to_micros(3.06)


@pytest.mark.parametrize(
    ("micros", "text"),
    [(3_060_000, "3.060000"), (1, "0.000001"), (-1, "-0.000001"), (0, "0.000000")],
    ids=["dollars", "one-micro", "negative", "zero"],
)
def test_format_dollars(micros, text):
    assert format_dollars(micros) == text


def test_amortised_price_spreads_capex_over_life_plus_opex():
    # a $300k server over 4 years (35,064 h) plus $1.50/h power and space
    hourly = amortised_hourly_micros(to_micros("300000"), 35_064, to_micros("1.50"))
    assert hourly == 8_555_784 + 1_500_000


def test_largest_remainder_gives_leftover_micros_to_largest_fractions():
    exact = {"a": Fraction(10, 3), "b": Fraction(10, 3), "c": Fraction(10, 3)}
    assert largest_remainder(10, exact, order_key=str) == {"a": 4, "b": 3, "c": 3}


@given(st.integers(0, 10**9), st.lists(st.integers(1, 1000), min_size=1, max_size=12))
def test_largest_remainder_sums_exactly_and_stays_within_one_micro(total, weights):
    w = sum(weights)
    exact = {f"p{i}": Fraction(total * x, w) for i, x in enumerate(weights)}
    out = largest_remainder(total, exact, order_key=str)
    assert sum(out.values()) == total
    assert all(abs(out[k] - exact[k]) < 1 for k in exact)


def _version(hours: float, dollars: str, vid: str) -> PriceVersion:
    return PriceVersion(KEY, at(hours), to_micros(dollars), PricingModel.SPOT, vid)


CATALOG = PriceCatalog.of([_version(2, "2.00", "v2"), _version(0, "3.00", "v1"), _version(5, "1.00", "v3")])


@pytest.mark.parametrize(
    ("when", "version"),
    [
        pytest.param(at(0), "v1", id="exactly-at-first-start"),
        pytest.param(at(1, 59), "v1", id="before-second"),
        pytest.param(at(2), "v2", id="exactly-at-second-start"),
        pytest.param(at(100), "v3", id="long-after-last"),
    ],
)
def test_price_at_picks_version_in_force(when, version):
    assert CATALOG.price_at(KEY, when).version_id == version


def test_price_before_first_version_is_an_explained_miss():
    with pytest.raises(PriceLookupError, match="before"):
        CATALOG.price_at(KEY, T0 - timedelta(seconds=1))


def test_unknown_key_is_an_explained_miss():
    with pytest.raises(PriceLookupError, match="no price for aws-east/gpu-b"):
        CATALOG.price_at(PriceKey("aws-east", "gpu-b", "p5.48xlarge"), at(1))


def test_with_version_returns_a_new_catalog_and_leaves_the_old_one():
    newer = CATALOG.with_version(_version(3, "9.00", "v2b"))
    assert newer.price_at(KEY, at(4)).version_id == "v2b"
    assert CATALOG.price_at(KEY, at(4)).version_id == "v2"


def test_two_versions_at_the_same_instant_are_rejected():
    with pytest.raises(ValueError, match="same instant"):
        PriceCatalog.of([_version(1, "1.00", "a"), _version(1, "2.00", "b")])


def test_naive_timestamps_are_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        PriceVersion(KEY, at(0).replace(tzinfo=None), 1)
