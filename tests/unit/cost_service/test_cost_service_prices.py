"""The YAML price file: validated whole before anything is written, in exact micros."""

from __future__ import annotations

import pytest

from services.cost_reporting.prices import PriceFileError, load_price_file

HEAD = "prices:\n"
OK = "  - {cluster: c, pool: p, instance_type: i, effective_from: '2026-03-01T00:00:00Z', hourly: '3.06'}\n"


def write(tmp_path, body: str):
    path = tmp_path / "prices.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(("entry", "micros"), [
    pytest.param("hourly: '3.06'", 3_060_000, id="quoted-dollars"),
    pytest.param("hourly: 0.65", 650_000, id="yaml-float-read-as-its-decimal-text"),
    pytest.param("hourly: 4", 4_000_000, id="int"),
    pytest.param("model: on_prem_amortised, amortised: {capex: '300000', lifetime_hours: 35064, opex_per_hour: '1.5'}",
                 round(300_000_000_000 / 35064) + 1_500_000, id="amortised-capex-plus-opex"),
])
def test_prices_become_exact_micros(tmp_path, entry, micros):
    body = HEAD + f"  - {{cluster: c, pool: p, instance_type: i, effective_from: '2026-03-01T00:00:00Z', {entry}}}\n"
    [price] = load_price_file(write(tmp_path, body)).prices
    assert price.hourly_micros == micros


@pytest.mark.parametrize(("body", "message"), [
    pytest.param("prices: []\n", "prices: List should have at least 1 item", id="empty"),
    pytest.param(HEAD + OK.replace("Z'", "'"), "needs a timezone", id="naive-time"),
    pytest.param(HEAD + OK.replace("hourly: '3.06'", "hourly: '-1'"), "non-negative", id="negative"),
    pytest.param(HEAD + OK.replace("hourly: '3.06'", "hourly: 'lots'"), "not a number", id="not-a-number"),
    pytest.param(HEAD + OK.replace(", hourly: '3.06'", ""), "exactly one of hourly or amortised",
                 id="no-price"),
    pytest.param(HEAD + OK + OK, "two prices for c/p/i", id="duplicate"),
    pytest.param(HEAD + OK.replace("}", ", colour: red}"), "prices.0.colour: Extra inputs", id="unknown-field"),
    pytest.param("prices: [", "cannot read", id="bad-yaml"),
])
def test_bad_files_are_refused_with_the_entry_named(tmp_path, body, message):
    with pytest.raises(PriceFileError, match="prices.yaml") as err:
        load_price_file(write(tmp_path, body))
    assert message in str(err.value)
