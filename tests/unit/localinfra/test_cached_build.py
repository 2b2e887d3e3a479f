"""A binary built once into the cache (Kubernetes, helm, Kueue): whole or not at all, and never twice at once."""

from __future__ import annotations

import threading

import pytest

from libs.localinfra.cached_build import cached, is_built


def test_built_once_and_whole(tmp_path):
    target, calls = tmp_path / "tool-v1", []

    def build(staging):
        calls.append(staging)
        (staging / "tool").write_text("binary")

    assert cached(target, build) == target and (target / "tool").read_text() == "binary"
    assert cached(target, build) == target and len(calls) == 1
    assert calls[0].name == "tool-v1.partial" and not calls[0].exists()  # renamed into place


def test_a_failed_build_leaves_nothing_that_looks_whole(tmp_path):
    target = tmp_path / "tool-v1"

    def broken(staging):
        (staging / "tool").write_text("half")
        raise RuntimeError("go build failed")

    with pytest.raises(RuntimeError):
        cached(target, broken)
    assert not is_built(target) and not target.exists()
    assert cached(target, lambda staging: (staging / "tool").write_text("whole")) == target
    assert (target / "tool").read_text() == "whole"


def test_two_runs_at_once_build_it_once(tmp_path):
    target, calls, started = tmp_path / "tool-v1", [], threading.Event()

    def slow(staging):
        calls.append(1)
        started.set()
        threading.Event().wait(0.3)  # the other run arrives meanwhile and waits on the lock
        (staging / "tool").write_text("binary")

    runs = [threading.Thread(target=cached, args=(target, slow)) for _ in range(2)]
    runs[0].start()
    started.wait(10)
    runs[1].start()
    for run in runs:
        run.join(30)
    assert calls == [1] and (target / "tool").read_text() == "binary"
