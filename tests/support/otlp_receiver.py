"""A real OTLP/HTTP trace receiver in the test process: decodes ``ExportTraceServiceRequest`` bodies."""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                      ExportTraceServiceResponse)


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    name: str
    trace_id: str  # 32 hex digits
    span_id: str
    parent_span_id: str  # "" for a root span


class OtlpReceiver:
    """Serves POST /v1/traces on 127.0.0.1; ``status`` other than 200 answers every request with that code."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                body = gzip.decompress(body) if encoding == "gzip" else \
                    zlib.decompress(body) if encoding == "deflate" else body
                receiver._receive(self.path, body)
                answer = ExportTraceServiceResponse().SerializeToString() if receiver.status == 200 else b"refused"
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def endpoint(self) -> str:
        """Returns the base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _receive(self, path: str, body: bytes) -> None:
        with self._lock:
            self.requests += 1
        if path != "/v1/traces" or self.status != 200:
            return
        request = ExportTraceServiceRequest.FromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                spans += [ReceivedSpan(attrs.get("service.name", ""), s.name, s.trace_id.hex(), s.span_id.hex(),
                                       s.parent_span_id.hex()) for s in scope.spans]
        with self._lock:
            self.spans += spans

    def services_in(self, trace_id: str) -> set[str]:
        """Returns the service names that sent spans of ``trace_id``."""
        with self._lock:
            return {s.service for s in self.spans if s.trace_id == trace_id}

    def __enter__(self) -> "OtlpReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
