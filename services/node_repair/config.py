"""Reads the node-repair policy YAML into libs/repair's RepairConfig (durations in seconds, shares as fractions).

The file's schema is a pydantic model made from the core's own dataclasses (so a field added there is accepted
here): each ``timedelta`` is ``<name>_s`` (seconds, > 0, at most ten years), each share a number in (0, 1], each
count an integer from 0 to 10^9. Unknown fields and wrong types are refused with the field's path, e.g.
``safety.pool_max_outt: unknown field`` or ``diagnosis.heartbeat_timeout_s: Input should be greater than 0``.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from libs.events.validation import problems, read_yaml
from libs.repair import DiagnosisConfig, RepairConfig, SafetyConfig


MAX_SECONDS = 10 * 365 * 24 * 3600
MAX_COUNT = 1_000_000_000


class RepairConfigError(ValueError):
    """The policy YAML is unreadable or invalid; the message names the file and the field's path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _file_field(default: object) -> tuple[str, Any]:
    """Returns (suffix, annotated type) of one core field as the file writes it."""
    if isinstance(default, timedelta):  # at most ten years: timedelta overflows long before float does
        return "_s", Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
    if isinstance(default, Fraction):
        return "", Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    return "", Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]


@cache
def _section_model(cls: type) -> type[BaseModel]:
    """Returns the pydantic model of one core section: every field optional (the core's default stands)."""
    fields = {}
    for f in dataclasses.fields(cls):
        suffix, kind = _file_field(getattr(cls(), f.name))
        fields[f.name + suffix] = (kind | None, None)
    return create_model(f"{cls.__name__}File", __base__=_Strict, **fields)


@cache
def _file_model() -> type[BaseModel]:
    return create_model("RepairPolicyFile", __base__=_Strict,
                        diagnosis=(_section_model(DiagnosisConfig) | None, None),
                        safety=(_section_model(SafetyConfig) | None, None))


def _section(cls, values: BaseModel | None):
    """Returns the core section with the file's values over its defaults."""
    defaults, kwargs = cls(), {}
    for key, value in (values.model_dump(exclude_none=True) if values is not None else {}).items():
        name = key if hasattr(defaults, key) else key.removesuffix("_s")  # durations are written <name>_s
        default = getattr(defaults, name)
        if isinstance(default, timedelta):
            value = timedelta(seconds=value)
        elif isinstance(default, Fraction):
            value = Fraction(str(value)).limit_denominator(1000)
        kwargs[name] = value
    return cls(**kwargs)


def parse_repair_config(data: object, where: str) -> RepairConfig:
    """Returns the policy in the YAML document ``data`` (None: the defaults); raises RepairConfigError."""
    try:
        doc = _file_model().model_validate(data or {})
    except ValidationError as exc:
        raise RepairConfigError(f"{where}: {'; '.join(problems(exc)[:5])}") from None
    config = RepairConfig(diagnosis=_section(DiagnosisConfig, doc.diagnosis), safety=_section(SafetyConfig, doc.safety))
    d = config.diagnosis
    if d.cluster_unreachable_after >= d.heartbeat_timeout:
        raise RepairConfigError(
            f"{where}: diagnosis.cluster_unreachable_after_s ({d.cluster_unreachable_after.total_seconds():g}) must "
            f"be shorter than diagnosis.heartbeat_timeout_s ({d.heartbeat_timeout.total_seconds():g}): a cluster's "
            "silence must be seen as a partition before its nodes' silence is diagnosed as dead nodes")
    return config


def load_repair_config(path: str | Path | None) -> RepairConfig:
    """Returns the policy in ``path`` (libs/repair defaults when empty or missing); raises RepairConfigError."""
    if not path or not Path(path).exists():
        return RepairConfig()
    data = read_yaml(path, "node repair policy", RepairConfigError)
    return parse_repair_config(data, str(path))
