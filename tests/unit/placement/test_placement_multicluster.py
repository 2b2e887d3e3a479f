"""Choosing a cluster when a flavor spans several: fit, then price, then locality."""

from __future__ import annotations

from placement_builders import digest, node, snapshot, workload

from libs.placement import PlacementOutcome
from libs.placement.multicluster import place_across_clusters


def fleet():
    return snapshot(node("aws-1").cluster("aws").gpus(8).price(30.0),
                    node("gcp-1").cluster("gcp").gpus(8).price(20.0),
                    node("onprem-1").cluster("onprem").gpus(4).price(5.0))


def test_cluster_that_fits_wins_over_a_cheaper_one_that_does_not() -> None:
    w = workload("w").clusters("aws", "gcp", "onprem").pods("p", 2, gpus=4).build()
    result = place_across_clusters(fleet(), w)
    assert result.cluster == "gcp"
    assert result.why_cluster.startswith("gcp ($20.00/h): the cheapest cluster where it fits; aws $30.00/h; "
                                         "onprem does not fit ("), result.why_cluster


def test_cheapest_fitting_cluster_wins() -> None:
    w = workload("w").clusters("aws", "gcp", "onprem").prefer("aws").pods("p", 1, gpus=4).build()
    result = place_across_clusters(fleet(), w)
    assert result.cluster == "onprem"
    assert result.why_cluster == "onprem ($5.00/h): the cheapest cluster where it fits; aws $15.00/h; gcp $10.00/h"


def test_locality_breaks_a_price_tie() -> None:
    snap = snapshot(node("a").cluster("east").gpus(8).price(10.0), node("b").cluster("west").gpus(8).price(10.0))
    w = workload("w").clusters("east", "west").prefer("west").pods("p", 1, gpus=8).build()
    result = place_across_clusters(snap, w)
    assert result.cluster == "west"
    assert result.why_cluster == ("west ($10.00/h): the workload's preferred cluster among equally priced fits; "
                                  "east $10.00/h")


def test_a_single_cluster_flavor_has_nothing_to_explain() -> None:
    from libs.placement import place
    snap = snapshot(node("a").cluster("east").gpus(8))
    result = place(snap, workload("w").pods("p", 1, gpus=8).build())
    assert result.cluster == "east" and result.why_cluster == ""


def test_the_only_fitting_cluster_says_so() -> None:
    w = workload("w").clusters("aws", "onprem").pods("p", 2, gpus=4).build()
    result = place_across_clusters(fleet(), w)
    assert result.cluster == "aws" and result.why_cluster.startswith(
        "aws ($30.00/h): the only cluster where it fits; onprem does not fit ("), result.why_cluster


def test_gang_never_spans_clusters() -> None:
    w = workload("w").clusters("aws", "gcp").pods("p", 3, gpus=4).build()
    snap = fleet()
    before = digest(snap)
    result = place_across_clusters(snap, w)
    assert result.outcome == PlacementOutcome.NO_FIT and digest(snap) == before


def test_place_without_a_cluster_still_keeps_the_gang_in_one_cluster() -> None:
    from libs.placement import place
    snap = snapshot(node("a").cluster("east").gpus(8), node("b").cluster("west").gpus(8))
    assert place(snap, workload("w").pods("p", 2, gpus=8).build()).outcome == PlacementOutcome.NO_FIT
    result = place(snap, workload("v").pods("p", 2, gpus=4).build())
    assert result.placed and len({a.node for a in result.assignments}) == 1


def test_a_flavor_naming_a_pool_but_no_cluster_spans_the_clusters_that_have_the_pool() -> None:
    snap = snapshot(node("aws-1").cluster("aws").pool("cpu-spot").cpu(32).price(0.65),
                    node("gcp-1").cluster("gcp").pool("cpu-spot").cpu(32).price(0.38),
                    node("onprem-1").cluster("onprem").pool("cpu").cpu(64).price(0.90))
    w = workload("w").pools("cpu-spot").pods("p", 1, cpu=16).build()
    result = place_across_clusters(snap, w)
    assert result.cluster == "gcp"
    assert result.why_cluster == "gcp ($0.19/h): the cheapest cluster where it fits; aws $0.33/h"  # onprem: no pool


def test_an_unreachable_cluster_takes_no_new_pods_and_says_so_and_is_never_a_never_fits() -> None:
    from libs.placement.feasibility import never_fits

    snap = fleet()
    w = workload("w").clusters("aws", "gcp", "onprem").pods("p", 1, gpus=4).build()
    assert snap.set_cluster_reachable("onprem", False) and not snap.set_cluster_reachable("onprem", False)
    result = place_across_clusters(snap, w)
    assert result.cluster == "gcp", result.why_cluster  # the cheapest, onprem, is cut off
    assert result.why_cluster.endswith("onprem does not fit (p: 0/1 pods fit (need 1); 0/3 nodes: 2 outside the "
                                       "assigned flavor's cluster/pool, 1 in an unreachable cluster)"), \
        result.why_cluster
    for name in ("aws", "gcp"):
        snap.set_cluster_reachable(name, False)
    pinned = workload("p").clusters("onprem").pods("p", 1, gpus=4).build()
    assert place_across_clusters(snap, pinned).outcome == PlacementOutcome.NO_FIT
    assert never_fits(snap, pinned) is None  # transient: wait, don't hand it back to quota
    assert snap.set_cluster_reachable("onprem")
    assert place_across_clusters(snap, pinned).cluster == "onprem"


def test_a_pod_set_pinned_to_a_cluster_whose_nodes_are_not_known_yet_waits_and_is_no_never_fits() -> None:
    """A flavor spans aws and gcp; the job lives in gcp (the connector pins it there) and gcp's nodes are not
    inventoried yet. The aws nodes failing its pin say nothing about gcp: wait. Handed back to quota, the flavor
    was excluded and the job waited forever once gcp's nodes came (test_kube_demo_mix under load)."""
    from libs.placement.feasibility import never_fits
    from libs.placement.model import CLUSTER_LABEL

    aws = node("aws-1").cluster("aws").label(CLUSTER_LABEL, "aws").gpus(8)
    pinned = workload("w").clusters("aws", "gcp").pods("p", 1, gpus=1, node_selector={CLUSTER_LABEL: "gcp"}).build()
    assert never_fits(snapshot(aws), pinned) is None
    small = node("gcp-1").cluster("gcp").label(CLUSTER_LABEL, "gcp").gpus(0)
    assert never_fits(snapshot(aws, small), pinned) == ("pod set p: none of the 1 nodes of its flavor could hold one "
                                                        "pod even when empty (1 have too few GPUs)")  # gcp's only
    assert never_fits(snapshot(aws, node("gcp-2").cluster("gcp").label(CLUSTER_LABEL, "gcp").gpus(8)), pinned) is None
