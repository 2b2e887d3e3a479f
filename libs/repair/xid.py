"""NVIDIA XID codes: what each means, and what batchyard does about it.

Meanings follow NVIDIA's Xid catalog (docs.nvidia.com/deploy/xid-errors) and the GPU
memory-error management notes (docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt): on
Ampere and newer, an uncorrectable memory error is *contained* (XID 94: only the
application that touched it dies, the page is offlined, the GPU keeps serving) or
*uncontained* (XID 95: every process on the GPU is affected and the GPU needs a reset).
Row remapping (XID 63) is applied at the next GPU reset; a failed remap (XID 64) means the
memory can no longer protect itself. XIDs 13, 31 and 43 are almost always the
application's own fault (bad kernel, illegal address, stopped channel), so the node is
left alone.

A GPU reset is carried out by the REBOOT action. Unknown XIDs are OBSERVE: the node becomes
suspect and a human can look.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.repair.codes import Action, Severity


@dataclass(frozen=True, slots=True)
class XidRule:
    """batchyard's response to one XID code."""

    code: int
    meaning: str  # NVIDIA's meaning, in a few words
    severity: Severity
    action: Action
    sticky: bool  # True: hardware evidence that stays until the node is repaired
    app_fault: bool = False  # True: the workload's own error; no node action


def _rule(code: int, meaning: str, severity: Severity, action: Action, *, app: bool = False) -> XidRule:
    return XidRule(code, meaning, severity, action, sticky=not app and action > Action.OBSERVE,
                   app_fault=app)


_APP = dict(severity=Severity.INFO, action=Action.NONE, app=True)

XID_RULES: dict[int, XidRule] = {r.code: r for r in (
    _rule(13, "graphics engine exception (usually the application)", **_APP),
    _rule(31, "GPU memory page fault (usually an illegal address in the application)", **_APP),
    _rule(43, "GPU stopped processing (usually the application)", **_APP),
    _rule(45, "preemptive cleanup after a previous error or process kill", **_APP),
    _rule(48, "double-bit ECC error (uncorrectable)", Severity.CRITICAL, Action.REBOOT),
    _rule(61, "internal micro-controller breakpoint/warning", Severity.WARNING, Action.OBSERVE),
    _rule(62, "internal micro-controller halt", Severity.CRITICAL, Action.REBOOT),
    _rule(63, "ECC page retirement / row remapping recorded; needs a GPU reset to apply",
          Severity.WARNING, Action.OBSERVE),
    _rule(64, "ECC page retirement / row remapping failure", Severity.CRITICAL, Action.REPLACE),
    _rule(74, "NVLink error", Severity.CRITICAL, Action.REBOOT),
    _rule(79, "GPU has fallen off the bus", Severity.CRITICAL, Action.REBOOT),
    _rule(92, "high single-bit ECC error rate", Severity.WARNING, Action.OBSERVE),
    _rule(94, "contained ECC error (application killed, page offlined)", Severity.WARNING,
          Action.OBSERVE),
    _rule(95, "uncontained ECC error (GPU reset required)", Severity.CRITICAL, Action.REBOOT),
    _rule(119, "GSP RPC timeout", Severity.CRITICAL, Action.REBOOT),
    _rule(120, "GSP error", Severity.CRITICAL, Action.REBOOT),
)}


def xid_rule(code: int) -> XidRule:
    """Returns the rule for ``code``; unknown codes are WARNING / OBSERVE (suspect, not sticky)."""
    return XID_RULES.get(
        code, XidRule(code, "unknown XID", Severity.WARNING, Action.OBSERVE, sticky=False))
