"""Property: whatever the delivery order and duplication, the ledger reconciles exactly.

Random fleets (GPU and CPU nodes, a price change mid-way), random workloads with several
revisions per allocation (heartbeats, early ends, resized requests, even overcommit), all
delivered shuffled and partly twice. After every delivery every booked node-hour sums to
its price; at the end the totals equal those of a clean, in-order run and of computing the
canonical truth directly.
"""

from datetime import timedelta

from cost_builders import T0, at, cpu_node, gpu_node
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.cost import (
    CostConfig,
    accrue,
    LedgerBook,
    Owner,
    PriceCatalog,
    PriceKey,
    PriceVersion,
    Resources,
    UsageInterval,
    canonical_intervals,
    cost_node_hour,
    reconcile,
)

HORIZON_HOURS = 6
NODES = {n.node: n for n in (gpu_node("g1"), gpu_node("g2", gpus=4, pool="gpu-b"), cpu_node("c1"))}
TEAMS = [Owner("org-a", "team-a", "q1"), Owner("org-a", "team-b", "q2"), Owner("org-b", "team-c", "q3")]


def _catalog() -> PriceCatalog:
    keys = {PriceKey(n.cluster, n.pool, n.instance_type) for n in NODES.values()}
    versions = []
    for i, k in enumerate(sorted(keys)):
        versions.append(PriceVersion(k, T0, 1_000_003 * (i + 3), version_id=f"{k.pool}-v1"))
        versions.append(PriceVersion(k, at(3, 20), 777_777 * (i + 2), version_id=f"{k.pool}-v2"))
    return PriceCatalog.of(versions)


CATALOG = _catalog()


@st.composite
def revisions(draw, alloc_no: int) -> list[UsageInterval]:
    node = NODES[draw(st.sampled_from(sorted(NODES)))]
    cap = node.capacity
    workload = f"w{draw(st.integers(0, 4))}"
    start = T0 + timedelta(seconds=draw(st.integers(0, (HORIZON_HOURS - 1) * 3600)))
    out = []
    for seq in range(1, draw(st.integers(1, 3)) + 1):
        seconds = draw(st.integers(0, 4 * 3600))
        end = min(start + timedelta(seconds=seconds), at(HORIZON_HOURS))
        res = Resources(draw(st.integers(0, cap.cpu_millis)), draw(st.integers(0, cap.memory_bytes)),
                        draw(st.integers(0, cap.gpus)))
        out.append(UsageInterval(f"a{alloc_no}#{seq}", f"a{alloc_no}", seq, workload,
                                 TEAMS[int(workload[1:]) % 3], node.node, start, end, res))
    return out


@st.composite
def deliveries(draw):
    n = draw(st.integers(1, 8))
    reports = [r for i in range(n) for r in draw(revisions(i))]
    dupes = draw(st.lists(st.sampled_from(reports), max_size=len(reports)))
    order = draw(st.permutations(reports + dupes))
    close_points = draw(st.sets(st.integers(0, len(order)), max_size=3))
    return reports, order, close_points


def _expected() -> dict:
    return {(n, at(h)): CATALOG.price_at(PriceKey(s.cluster, s.pool, s.instance_type), at(h)).hourly
            for n, s in NODES.items() for h in range(HORIZON_HOURS)}


def _close_all(book: LedgerBook) -> None:
    for node in sorted(NODES):
        for h in range(HORIZON_HOURS):
            book.close_node_hour(node, at(h))


@settings(max_examples=150, deadline=None)
@given(deliveries())
def test_ledger_reconciles_and_is_independent_of_delivery(case):
    reports, order, close_points = case
    expected = _expected()
    book = LedgerBook(NODES, CATALOG)
    for i, r in enumerate(order):
        if i in close_points:
            _close_all(book)
        book.ingest(r)
        booked = {nh: expected[nh] for nh in book.by_node_hour if book.by_node_hour[nh]}
        assert reconcile(book.rows, booked) == []
    _close_all(book)
    assert reconcile(book.rows, expected) == []
    assert all(r.amount != 0 for r in book.rows)

    clean = LedgerBook(NODES, CATALOG)
    for r in sorted(canonical_intervals(reports).values(), key=lambda r: r.event_id):
        clean.ingest(r)
    _close_all(clean)
    assert book.totals() == clean.totals()
    assert book.totals() == _direct_truth(reports)
    batch = {(r.node, r.hour, r.party): r.amount for r in accrue(order, NODES, CATALOG) if r.amount}
    assert all(book.totals()[k] == v for k, v in batch.items())  # batch accrual nets the same


def _direct_truth(reports) -> dict:
    canon = list(canonical_intervals(reports).values())
    out = {}
    for (node, hour), _ in _expected().items():
        spec = NODES[node]
        price = CATALOG.price_at(PriceKey(spec.cluster, spec.pool, spec.instance_type), hour)
        for party, amount in cost_node_hour(spec, hour, price, canon, CostConfig()).amounts.items():
            if amount:
                out[(node, hour, party)] = amount
    return out


@settings(max_examples=50, deadline=None)
@given(deliveries(), st.randoms(use_true_random=False))
def test_two_shuffled_deliveries_book_identical_totals(case, rnd):
    _, order, _ = case
    other = list(order)
    rnd.shuffle(other)
    books = [LedgerBook(NODES, CATALOG), LedgerBook(NODES, CATALOG)]
    for book, seq in zip(books, (order, other), strict=True):
        for r in seq:
            book.ingest(r)
        _close_all(book)
    assert books[0].totals() == books[1].totals()
