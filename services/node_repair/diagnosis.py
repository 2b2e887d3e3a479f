"""The spine's diagnosis: which health signals take a node out of service.

GPU XID codes by NVIDIA's meaning: 48 double-bit ECC, 79 fallen off the bus, 94/95 contained/uncontained
memory errors, 63/64 row remapping, 74 NVLink. 13, 31 and 43 are usually the application's fault and do
not take the node out. The full diagnosis with severities and actions is libs/repair (docs/node-repair.md).
"""

from __future__ import annotations

from libs.events import NodeHealthReported

NODE_XIDS = {48: "double-bit ECC error", 63: "row remapping pending", 64: "row remapping failed",
             74: "NVLink error", 79: "GPU has fallen off the bus", 94: "contained memory error",
             95: "uncontained memory error"}


def diagnose(signal: NodeHealthReported) -> tuple[str, dict[str, str]] | None:
    """Returns (reason code, evidence) when the signal warrants taking the node out, else None."""
    if not signal.heartbeat:
        return "heartbeat-lost", {"heartbeat": "missed"}
    bad = [x for x in signal.xid_codes if x in NODE_XIDS]
    if bad:
        return "gpu-xid", {f"xid-{x}": NODE_XIDS[x] for x in bad}
    if signal.ecc_uncorrectable > 0:
        return "ecc-uncorrectable", {"ecc_uncorrectable": str(signal.ecc_uncorrectable)}
    for condition, healthy_value in (("Ready", True), ("DiskPressure", False), ("MemoryPressure", False)):
        if condition in signal.conditions and signal.conditions[condition] != healthy_value:
            return f"condition-{condition.lower()}", {condition: str(signal.conditions[condition])}
    return None
