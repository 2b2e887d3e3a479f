"""Reading a running service's Prometheus ``/metrics`` endpoint."""

from __future__ import annotations

from urllib.request import urlopen

from prometheus_client.parser import text_string_to_metric_families


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Returns every sample on 127.0.0.1:``port``/metrics by sample name (``_total``, ``_bucket``... included)."""
    text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def total(samples: dict, name: str, **labels: str) -> float:
    """Returns the sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for have, v in samples.get(name, ()) if all(have.get(k) == x for k, x in labels.items()))
