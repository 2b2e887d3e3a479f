"""Ledger rows: accrual, delta corrections, reconciliation, and the in-memory book."""

from cost_builders import at, catalog_for, cpu_node, gpu_node, report

from libs.cost import (
    IDLE,
    CostConfig,
    LedgerBook,
    PriceKey,
    PriceVersion,
    RowKind,
    ShareWeights,
    booked_by_party,
    cost_node_hour,
    delta_rows,
    reconcile,
    to_micros,
)

GPU = gpu_node("g1")
CFG = CostConfig(gpu_node=ShareWeights.gpu_only())
CATALOG = catalog_for(GPU, dollars="3.60")
PRICE = CATALOG.price_at(PriceKey(GPU.cluster, GPU.pool, GPU.instance_type), at(0))


def truth(*reports, hour=at(0)):
    return cost_node_hour(GPU, hour, PRICE, [r.build() for r in reports], CFG)


def book() -> LedgerBook:
    return LedgerBook({"g1": GPU, "c1": cpu_node("c1")}, catalog_for(GPU, cpu_node("c1")), CFG)


def test_first_booking_is_an_accrual_that_sums_to_the_price():
    rows = delta_rows([], truth(report("w1").gpus(2).by("org-x", "team-y", "q-z")), "e1")
    assert {r.kind for r in rows} == {RowKind.ACCRUAL}
    assert sum(r.amount for r in rows) == 3_600_000
    w1 = next(r for r in rows if r.party == "w1")
    assert (w1.org, w1.team, w1.queue, w1.pool, w1.gpu_model) == ("org-x", "team-y", "q-z", "gpu-a", "H100-80GB")


def test_replaying_the_same_truth_adds_nothing():
    first = delta_rows([], truth(report("w1").gpus(2)), "e1")
    assert delta_rows(first, truth(report("w1").gpus(2)), "e1-again") == []


def test_late_workload_moves_money_from_idle_with_correction_rows():
    first = delta_rows([], truth(report("w1").gpus(2)), "e1")
    late = delta_rows(first, truth(report("w1").gpus(2), report("w2").gpus(4)), "e2")
    assert {(r.party, r.amount, r.kind) for r in late} == {
        ("w2", 1_800_000, RowKind.CORRECTION), (IDLE, -1_800_000, RowKind.CORRECTION)}
    assert booked_by_party(first + late) == {"w1": 900_000, "w2": 1_800_000, IDLE: 900_000}


def test_a_workload_that_vanishes_from_the_truth_is_reversed_under_its_old_owner():
    first = delta_rows([], truth(report("w1").gpus(2).by("o", "t", "q")), "e1")
    fix = delta_rows(first, truth(), "e9")
    w1 = next(r for r in fix if r.party == "w1")
    assert (w1.amount, w1.team) == (-900_000, "t")


def test_row_ids_are_stable_across_replays():
    a = delta_rows([], truth(report("w1").gpus(2)), "e1")
    b = delta_rows([], truth(report("w1").gpus(2)), "e1")
    assert [r.row_id for r in a] == [r.row_id for r in b]
    assert len({r.row_id for r in a}) == len(a)


def test_reconcile_reports_unbooked_and_wrong_node_hours():
    rows = delta_rows([], truth(report("w1").gpus(2)), "e1")
    expected = {("g1", at(0)): 3_600_000, ("g1", at(1)): 3_600_000}
    [missing] = reconcile(rows, expected)
    assert (missing.hour, missing.booked) == (at(1), 0)
    assert "off by -3600000" in missing.message
    assert reconcile(rows[:-1], {("g1", at(0)): 3_600_000})[0].expected == 3_600_000


def test_book_ignores_duplicate_deliveries():
    b = book()
    r = report("w1").gpus(8).build()
    assert b.ingest(r)
    assert b.ingest(r) == []


def test_book_ignores_an_older_report_arriving_late():
    b = book()
    b.ingest(report("w1").gpus(8).between(at(0), at(2)).revision(2).build())
    assert b.ingest(report("w1").gpus(8).between(at(0), at(1)).revision(1).build()) == []


def test_superseding_report_that_ends_earlier_refunds_the_later_hours():
    b = book()
    b.ingest(report("w1").gpus(8).between(at(0), at(3)).revision(1).build())
    fix = b.ingest(report("w1").gpus(8).between(at(0), at(1, 30)).revision(2).build())
    assert {(r.hour, r.party, r.amount) for r in fix} == {
        (at(1), "w1", -1_800_000), (at(1), IDLE, 1_800_000),
        (at(2), "w1", -3_600_000), (at(2), IDLE, 3_600_000)}
    assert b.totals()[("g1", at(2), IDLE)] == 3_600_000


def test_closing_an_untouched_node_hour_books_it_all_as_idle_once():
    b = book()
    rows = b.close_node_hour("c1", at(5, 10))
    assert [(r.party, r.amount, r.hour) for r in rows] == [(IDLE, 3_600_000, at(5))]
    assert b.close_node_hour("c1", at(5)) == []


def test_repricing_corrects_booked_hours_and_still_reconciles():
    b = book()
    b.ingest(report("w1").gpus(4).between(at(0), at(2)).build())
    key = PriceKey(GPU.cluster, GPU.pool, GPU.instance_type)
    cheaper = b.catalog.with_version(PriceVersion(key, at(1), to_micros("2.00"), version_id="v-cut"))
    fix = b.reprice(cheaper, "catalog-7")
    assert {(r.party, r.amount) for r in fix} == {("w1", -800_000), (IDLE, -800_000)}
    assert reconcile(b.rows, {("g1", at(0)): 3_600_000, ("g1", at(1)): 2_000_000}) == []
