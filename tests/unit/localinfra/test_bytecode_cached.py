"""``./task setup`` leaves the virtualenv's bytecode compiled: where PYTHONDONTWRITEBYTECODE is set (as on this
project's machines) nothing else would, and every service process would compile its dependencies from source as
it starts (benchmarks/service_start.py: about 3x the CPU per start)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import kubernetes_asyncio.client
import pydantic

from libs.platform import group_call


@pytest.mark.parametrize("module", [kubernetes_asyncio.client, pydantic, group_call], ids=lambda m: m.__name__)
def test_setup_compiled_the_bytecode_a_service_imports(module):
    source = Path(module.__file__)
    cached = Path(importlib.util.cache_from_source(str(source)))
    assert cached.exists(), f"no bytecode for {source}: run ./task setup (it compiles the virtualenv's bytecode)"
