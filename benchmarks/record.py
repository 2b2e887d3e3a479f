"""Writing a benchmark's result: benchmarks/results/<name>.json with the fields every result carries."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """Returns a short description of the machine the figures were measured on."""
    return f"{platform.machine()} {os.cpu_count()} cpus, python {sys.version.split()[0]}"


def write_result(name: str, value: float | None, unit: str, higher_is_better: bool, target: str | float,
                 command: str, **extra: object) -> dict:
    """Writes benchmarks/results/<name>.json, prints it, and returns the record."""
    record = {"name": name, "value": value, "unit": unit, "higher_is_better": higher_is_better,
              "target": target, "command": command, "machine": machine(), **extra}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
