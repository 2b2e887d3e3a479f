"""Which OTLP configurations export spans, and which are refused in one log line instead of breaking a service."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from libs.platform import otlp


def test_no_endpoint_exports_nothing():
    assert otlp.span_processor({}) is None


def test_the_traces_endpoint_wins_over_the_general_one():
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/x"}
    assert otlp.configured_endpoint(env) == "http://b:4318/x"


def test_an_endpoint_gives_a_batch_processor():
    processor = otlp.span_processor({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert processor is not None
    processor.shutdown()


@pytest.mark.parametrize("protocol", ["grpc", "http/json"])
def test_an_unsupported_protocol_is_logged_and_exports_nothing(protocol, caplog):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    with caplog.at_level(logging.WARNING, "batchyard.telemetry"):
        assert otlp.span_processor(env) is None
    assert f"protocol {protocol!r} is not supported" in caplog.text


class Failing(SpanExporter):
    def __init__(self, raises: bool) -> None:
        self.raises, self.calls = raises, 0

    def export(self, spans):
        self.calls += 1
        if self.raises:
            raise RuntimeError("collector on fire")
        return SpanExportResult.FAILURE


@pytest.mark.parametrize("raises", [False, True], ids=["fails", "raises"])
def test_failures_are_logged_once_and_never_raised(raises, caplog):
    inner = Failing(raises)
    exporter = otlp.LoggedOnce(inner, "http://collector:4318")
    with caplog.at_level(logging.WARNING, "batchyard.telemetry"):
        results = [exporter.export([]) for _ in range(3)]
    assert results == [SpanExportResult.FAILURE] * 3 and inner.calls == 3
    assert caplog.text.count("spans cannot be exported over OTLP to http://collector:4318") == 1
    assert ("collector on fire" in caplog.text) is raises
