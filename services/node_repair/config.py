"""Reads the node-repair policy YAML into libs/repair's RepairConfig (durations in seconds, shares as fractions)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import yaml

from libs.repair import DiagnosisConfig, RepairConfig, SafetyConfig


class RepairConfigError(ValueError):
    """The policy YAML is unreadable or names an unknown field."""


def _section(cls, values: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in (values or {}).items():
        name = key.removesuffix("_s")
        if name not in fields:
            raise RepairConfigError(f"{where}: unknown field {key!r}")
        default = getattr(cls(), name)
        if isinstance(default, timedelta):
            value = timedelta(seconds=float(value))
        elif isinstance(default, Fraction):
            value = Fraction(str(value)).limit_denominator(1000)
        kwargs[name] = value
    return cls(**kwargs)


def load_repair_config(path: str | Path | None) -> RepairConfig:
    """Returns the policy in ``path`` (libs/repair defaults when empty or missing); raises RepairConfigError."""
    if not path or not Path(path).exists():
        return RepairConfig()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RepairConfigError(f"{path}: {exc}") from None
    return RepairConfig(diagnosis=_section(DiagnosisConfig, data.get("diagnosis"), f"{path}: diagnosis"),
                        safety=_section(SafetyConfig, data.get("safety"), f"{path}: safety"))
