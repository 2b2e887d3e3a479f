"""Fleet specs for tests."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def fault_free_fleet(tmp_path: Path, pod_failure_probability: float = 0.0) -> str:
    """Returns the path of the demo fleet without injected faults (but pod failures at the given probability).

    Node drains evict and requeue workloads; tests that count reservations or placements exactly use this.
    """
    fleet = yaml.safe_load((REPO / "deploy" / "fleet" / "demo.yaml").read_text())
    faults = fleet.get("faults") or {}
    fleet["faults"] = {k: (0 if k.endswith("_per_node_hour") or k.endswith("probability") else v)
                       for k, v in faults.items() if k != "storms"}
    fleet["faults"]["pod_failure_probability"] = pod_failure_probability
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    return str(path)
