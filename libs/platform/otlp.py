"""Spans over OTLP (HTTP/protobuf) when the standard ``OTEL_EXPORTER_OTLP_*`` variables ask for it.

The exporter is the maintained ``opentelemetry-exporter-otlp-proto-http``; it reads the endpoint, headers,
timeout, compression and certificates from the environment itself. What batchyard adds is that telemetry never
breaks a service: a bad or unreachable endpoint is logged once, in one line with the reason, and then the
service goes on (spans are exported from the batch processor's own thread, so a slow collector costs no
handler any time; spans that cannot be sent are dropped).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

log = logging.getLogger("batchyard.telemetry")

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
# the OTLP exporter's own loggers: one line per failed batch (and per retry); LoggedOnce speaks for them instead
EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.exporter.otlp.common.http")


def configured_endpoint(environ=os.environ) -> str | None:
    """Returns the OTLP traces endpoint the environment names (the traces-specific variable wins), or None."""
    return next((environ[v] for v in ENDPOINT_VARS if environ.get(v, "").strip()), None)


class LoggedOnce(SpanExporter):
    """Wraps an exporter so that its failures are logged once per process, with the reason, and never raised."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self.inner = inner  # the OTLP exporter doing the work
        self.endpoint = endpoint  # named in the one log line
        self.failures = 0  # batches that could not be exported (the first one is logged)
        self.reason = ""  # what the exporter said of the batch being exported, caught from its logger

        outer = self

        class _Catch(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                said = record.getMessage()
                if said not in outer.reason:
                    outer.reason = f"{outer.reason}; {said}" if outer.reason else said
                return False  # said once by LoggedOnce, not once per batch here

        self._catch = _Catch()
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(self._catch)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.reason = ""
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001 - a broken exporter must not take the service with it
            self.reason, result = f"{type(exc).__name__}: {exc}", SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.failures += 1
            if self.failures == 1:
                log.warning("spans cannot be exported over OTLP to %s (%s); the service goes on without them, "
                            "and further export failures are not logged", self.endpoint,
                            self.reason or "export failed")
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception:  # noqa: BLE001 - shutting down telemetry never fails a service's shutdown
            pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def span_processor(environ=os.environ) -> BatchSpanProcessor | None:
    """Returns a batch processor exporting spans over OTLP/HTTP if an endpoint is configured, else None.

    A configuration the exporter cannot use (a protocol other than http/protobuf, an endpoint it refuses) is
    logged once and spans are simply not exported."""
    endpoint = configured_endpoint(environ)
    if endpoint is None:
        return None
    protocol = next((environ[v].strip() for v in PROTOCOL_VARS if environ.get(v, "").strip()), "http/protobuf")
    if protocol != "http/protobuf":
        log.warning("spans are not exported over OTLP: protocol %r is not supported (only http/protobuf)", protocol)
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return BatchSpanProcessor(LoggedOnce(OTLPSpanExporter(), endpoint))
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed header or timeout variable
        log.warning("spans are not exported over OTLP to %s: %s: %s", endpoint, type(exc).__name__, exc)
        return None
