"""The Dockerfile, checked without a Docker engine (there is none where the tests run, so it is never built
here): its stages, the locked install, a non-root user, the entrypoint, and that everything it copies exists."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def instructions(text: str) -> list[tuple[str, str]]:
    """Returns (INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip() if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def stages() -> list[list[tuple[str, str]]]:
    """Returns the instructions of each stage (each begins with its FROM)."""
    found: list[list[tuple[str, str]]] = []
    for op, args in instructions((ROOT / "Dockerfile").read_text()):
        if op == "FROM":
            found.append([])
        found[-1].append((op, args))
    return found


def ignored() -> set[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_every_stage_is_python_3_11_slim_and_there_are_two():
    froms = [stage[0][1].split()[0] for stage in stages()]
    assert froms == ["python:3.11-slim", "python:3.11-slim"]


def test_dependencies_come_from_uv_lock_with_the_uv_task_pins():
    build = stages()[0]
    runs = [args for op, args in build if op == "RUN"]
    assert any("uv sync --frozen --no-dev" in r for r in runs), runs
    uv_pin = re.search(r"UV_VERSION=(\S+)", (ROOT / "task").read_text()).group(1)
    assert any(f"uv=={uv_pin}" in r for r in runs), f"the image's uv should be ./task's {uv_pin}"
    copied = [shlex.split(args) for op, args in build if op == "COPY"]
    assert any("uv.lock" in c for c in copied)


def test_the_image_runs_batchyard_as_a_non_root_user():
    final = stages()[-1]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entrypoint = [json.loads(args) for op, args in final if op == "ENTRYPOINT"]
    assert entrypoint == [["batchyard"]]
    assert "batchyard" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert [op for op, _ in final if op == "CMD"], "a default CMD"


def test_the_user_is_the_one_the_helm_chart_runs_as():
    user = [args for op, args in stages()[-1] if op == "USER"][-1]
    values = yaml.safe_load((ROOT / "deploy/helm/batchyard/values.yaml").read_text())
    assert user == f"{values['podSecurityContext']['runAsUser']}:{values['podSecurityContext']['runAsGroup']}"


def test_everything_copied_from_the_context_exists_and_is_not_ignored():
    for stage in stages():
        for op, args in stage:
            if op not in ("COPY", "ADD") or "--from=" in args:
                continue
            *sources, _destination = [a for a in shlex.split(args) if not a.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"{op} {args}: {source} does not exist"
                assert source.rstrip("/") not in ignored(), f"{op} {args}: .dockerignore excludes {source}"


def test_no_private_key_reaches_the_image():
    assert "deploy/admission/demo-signing-keys.yaml" in ignored()
    copied = " ".join(args for stage in stages() for op, args in stage if op == "COPY")
    assert "deploy/kube" not in copied
