"""A workload row's pod templates are decoded only when pods are made from them: the reconciler reads thousands
of rows to bind and watch, and decoding every template each time was a quarter of its CPU."""

from __future__ import annotations

import json

import pytest

from services.kube_connector.rows import WorkloadRow

RECORD = {"workload_id": "w", "kind": "BatchJob", "namespace": "ns", "name": "job", "uid": "u", "org": "acme",
          "team": "nlp", "pod_count": 1, "phase": "placed", "attempt": 1,
          "assignments": json.dumps([{"pod_set": "main", "index": 0, "node_id": "c/n-1"}]), "evict_reason": None,
          "evict_message": None, "trace": "{}", "failures": 0, "backoff_limit": 0}


def test_templates_are_decoded_on_first_use_and_once():
    row = WorkloadRow.of({**RECORD, "templates": json.dumps({"main": {"spec": {"containers": []}}})})
    assert "templates" not in row.__dict__  # not decoded by reading the row
    assert row.assignments == [{"pod_set": "main", "index": 0, "node_id": "c/n-1"}]
    assert row.templates == {"main": {"spec": {"containers": []}}}
    assert row.templates is row.templates


def test_a_row_whose_templates_are_never_used_is_read_even_if_they_would_not_decode():
    row = WorkloadRow.of({**RECORD, "templates": "{not json"})
    assert row.phase == "placed"
    with pytest.raises(json.JSONDecodeError):
        row.templates


def test_templates_already_decoded_and_none_are_taken_as_they_are():
    assert WorkloadRow.of({**RECORD, "templates": {"main": {}}}).templates == {"main": {}}
    assert WorkloadRow.of({**RECORD, "templates": None}).templates == {}
