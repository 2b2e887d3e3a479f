"""Pydantic validation errors in words, each with its field path: ``spec.resourceGroups[0].flavors[1].name: ...``.

Shared by the configuration files' loaders (ADR 0018): the quota config, the scheduler's and admission's policies.
``read_yaml`` reads such a file, refusing what is not YAML text in one line naming it.
A validator that raises ``must_be(...)`` gets the path as the sentence's subject: ``fgd_packing must be ...``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import PydanticCustomError


def must_be(what: str, value: object) -> PydanticCustomError:
    """Returns the error for a value that is not ``what`` (e.g. "true or false"), said as ``<path> must be ...``."""
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return PydanticCustomError("must_be", f"must be {what}, got {shown}")  # no context: braces stay as they are


def field_path(loc: Iterable[int | str]) -> str:
    """Returns a pydantic location as a path: names joined by dots, list positions in brackets."""
    out = ""
    for part in loc:
        if isinstance(part, int) or part == "[key]":  # "[key]": the mapping key itself is wrong, not its value
            out += f"[{part}]" if isinstance(part, int) else part
        else:
            out += f".{part}" if out else part
    return out


def _message(error: dict, unknown: str) -> str:
    if error["type"] == "extra_forbidden":
        return unknown
    if error["type"] in ("enum", "literal_error"):  # "Input should be 'A' or 'B'" says nothing of what was given
        choices = dict.fromkeys(re.findall(r"'[^']*'", error.get("ctx", {}).get("expected", "")))
        return f"{error['input']!r} is not one of {', '.join(choices)}"
    return error["msg"].removeprefix("Value error, ")


def problems(exc: ValidationError, *, prefix: tuple = (), unknown: str = "unknown field",
             root: str = "<file>") -> list[str]:
    """Returns every validation problem as ``path: message`` (``unknown`` for a field the schema does not have)."""
    return [f"{field_path((*prefix, *e['loc'])) or root}{' ' if e['type'] == 'must_be' else ': '}"
            f"{_message(e, unknown)}" for e in exc.errors()]


def read_yaml(path: str | Path, what: str, error: type[Exception]) -> Any:
    """Returns the YAML document in the file at ``path``. A file that cannot be read, is not UTF-8 text or is not
    YAML raises ``error`` with one line naming the file and the ``what`` it should have been (e.g. "replay
    config"); the reasons YAML gives span several lines, so they are joined."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise error(f"{path}: not a {what} (not UTF-8 text; a binary file?)") from None
    except (OSError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise error(f"{path}: cannot read the {what}: {reason}") from None
