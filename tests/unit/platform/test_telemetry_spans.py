"""Batch consume spans: one per event, parented on the producer's context, and its context handed to emits."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from libs.platform import telemetry

PRODUCER_TRACE = "0af7651916cd43dd8448eb211c80319c"
PRODUCER_SPAN = "b7ad6b7169203331"
HEADERS = {"traceparent": f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01", "event-type": "WorkloadSubmitted"}


def exporter() -> InMemorySpanExporter:
    telemetry.setup("test")
    spans = InMemorySpanExporter()
    telemetry._provider.add_span_processor(SimpleSpanProcessor(spans))
    return spans


def test_a_batch_span_continues_the_producers_trace_and_its_emits_continue_the_span() -> None:
    spans = exporter()
    span, carried = telemetry.start_consume_span("admission", "WorkloadSubmitted", HEADERS,
                                                 **{"batchyard.event_id": "e-1"})
    context = span.get_span_context()
    assert trace.get_current_span() is not span  # not entered: the batch goes on under its caller's context
    assert f"{context.trace_id:032x}" == PRODUCER_TRACE
    assert carried["traceparent"] == f"00-{PRODUCER_TRACE}-{context.span_id:016x}-01"
    assert not spans.get_finished_spans()  # the caller ends it, once the batch is done
    span.end()
    [done] = spans.get_finished_spans()
    assert done.kind is trace.SpanKind.CONSUMER and done.name == "admission handle WorkloadSubmitted"
    assert f"{done.parent.span_id:016x}" == PRODUCER_SPAN and done.attributes["batchyard.event_id"] == "e-1"


def test_without_a_producer_context_a_batch_span_starts_a_trace() -> None:
    exporter()
    span, carried = telemetry.start_consume_span("admission", "WorkloadSubmitted", {})
    assert span.get_span_context().is_valid and carried["traceparent"].startswith("00-")
    span.end()


def test_when_nothing_records_spans_a_batch_event_still_carries_the_trace_with_a_span_of_its_own(monkeypatch) -> None:
    """No OTLP endpoint and no span file: the SDK span would be built and thrown away. The event's context is
    made without it, and the emits still continue the producer's trace (or start one) under a new span id."""
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setattr(telemetry, "_provider", TracerProvider())
    span, carried = telemetry.start_consume_span("quota", "WorkloadAccepted", HEADERS)
    context = span.get_span_context()
    assert not span.is_recording() and f"{context.trace_id:032x}" == PRODUCER_TRACE
    assert f"{context.span_id:016x}" != PRODUCER_SPAN
    assert carried["traceparent"] == f"00-{PRODUCER_TRACE}-{context.span_id:016x}-01"
    other, _ = telemetry.start_consume_span("quota", "WorkloadAccepted", HEADERS)
    assert other.get_span_context().span_id != context.span_id
    fresh, carried = telemetry.start_consume_span("quota", "WorkloadAccepted", {})
    assert fresh.get_span_context().is_valid and fresh.get_span_context().trace_id != context.trace_id
    assert carried["traceparent"].startswith("00-") and carried["traceparent"].endswith("-01")
    span.end()
