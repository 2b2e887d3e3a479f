"""Rollups by org / team / queue / cluster / GPU model / day, and CSV export."""

import csv
import io

import pytest
from cost_builders import at, catalog_for, cpu_node, gpu_node, report

from libs.cost import IDLE, CostConfig, Dim, LedgerBook, ShareWeights, ledger_csv, rollup, rollup_csv

G1, C1 = gpu_node("g1"), cpu_node("c1", cluster="onprem-1")


@pytest.fixture
def book() -> LedgerBook:
    b = LedgerBook({"g1": G1, "c1": C1}, catalog_for(G1, C1, dollars="3.60"),
                   CostConfig(gpu_node=ShareWeights.gpu_only()))
    b.ingest(report("train").on("g1").gpus(4).by("org-a", "team-ml").between(at(23), at(25)).build())
    b.ingest(report("etl").on("c1").cpu(16).mem_gib(64).by("org-a", "team-data").build())
    b.ingest(report("etl").on("c1").cpu(16).mem_gib(64).by("org-a", "team-data")
             .between(at(0), at(0, 30)).revision(2).build())  # ended early: a correction
    return b


@pytest.mark.parametrize(
    ("dims", "expected"),
    [
        pytest.param((Dim.TEAM,), {("team-ml",): 3_600_000, ("team-data",): 900_000,
                                   (IDLE,): 6_300_000}, id="team"),
        pytest.param((Dim.ORG,), {("org-a",): 4_500_000, (IDLE,): 6_300_000}, id="org"),
        pytest.param((Dim.CLUSTER, Dim.DAY), {("aws-east", "2026-01-01"): 3_600_000,
                                              ("aws-east", "2026-01-02"): 3_600_000,
                                              ("onprem-1", "2026-01-01"): 3_600_000}, id="cluster-day"),
        pytest.param((Dim.GPU_MODEL,), {("H100-80GB",): 7_200_000, ("(none)",): 3_600_000},
                     id="gpu-model"),
        pytest.param((Dim.POOL, Dim.WORKLOAD), {("gpu-a", "train"): 3_600_000,
                                                ("gpu-a", IDLE): 3_600_000,
                                                ("cpu-a", "etl"): 900_000,
                                                ("cpu-a", IDLE): 2_700_000}, id="idle-per-pool"),
    ],
)
def test_rollup_totals(book, dims, expected):
    assert {t.key: t.amount for t in rollup(book.rows, dims)} == expected


def test_rollup_counts_corrections_but_nets_them():
    rows = _rows()
    [etl] = [t for t in rollup(rows, (Dim.WORKLOAD,)) if t.key == ("etl",)]
    assert (etl.amount, etl.rows) == (900_000, 2)
    assert [t.amount for t in rollup(rows, ())] == [7_200_000]


def _rows():
    b = LedgerBook({"c1": C1}, catalog_for(C1, dollars="3.60"))
    b.ingest(report("etl").on("c1").cpu(16).mem_gib(64).build())
    b.ingest(report("etl").on("c1").cpu(16).mem_gib(64).between(at(0), at(0, 30)).revision(2).build())
    b.ingest(report("x").on("c1").cpu(32).mem_gib(128).between(at(1), at(2)).build())
    b.close_node_hour("c1", at(0))
    return b.rows


def test_rollup_csv_has_dollars_and_micros(book):
    text = rollup_csv(rollup(book.rows, (Dim.ORG, Dim.TEAM)), (Dim.ORG, Dim.TEAM))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["org", "team", "amount_usd", "amount_micros", "rows"]
    assert ["org-a", "team-ml", "3.600000", "3600000", "2"] in parsed


def test_ledger_csv_round_trips_every_row(book):
    parsed = list(csv.DictReader(io.StringIO(ledger_csv(book.rows))))
    assert len(parsed) == len(book.rows)
    assert sum(int(r["amount_micros"]) for r in parsed) == 10_800_000
    assert {r["kind"] for r in parsed} == {"accrual", "correction"}
