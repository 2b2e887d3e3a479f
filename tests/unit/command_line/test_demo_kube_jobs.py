"""The Kubernetes demo's mix: each job goes to a home cluster where its team has pools that can run it."""

from __future__ import annotations

from cli.demo_kube import FLEET, QUOTA, demo_jobs, team_pools
from libs.fleet import load_fleet


def test_a_flavor_naming_no_cluster_gives_a_team_its_pool_in_every_cluster():
    pools = team_pools(QUOTA, load_fleet(FLEET))
    assert sorted((p.cluster, p.name) for p in pools["nlp"]) == [
        ("aws-use1", "cpu-spot"), ("aws-use1", "h100"), ("gcp-usc1", "cpu-spot"), ("onprem-dc1", "a100")]
    assert sorted((p.cluster, p.name) for p in pools["vision"]) == [
        ("gcp-usc1", "l4"), ("onprem-dc1", "a100"), ("onprem-dc1", "cpu")]


def test_every_job_of_the_mix_has_a_home_in_all_three_clusters():
    jobs, homeless = demo_jobs(36, seed=7, time_scale=600)
    assert homeless == 0 and set(jobs) == {"onprem-dc1", "aws-use1", "gcp-usc1"}
    assert sum(len(items) for items in jobs.values()) == 38  # and the two admission refuses
