"""An OTLP/HTTP traces receiver for the traces test (host/tests/traces.rs).

The OpenTelemetry Collector cannot be installed here (no Debian, PyPI or npm
package carries it), so this is the one receiver of the project's own making:
it decodes the standard's wire format with the official definitions
(`opentelemetry-proto` from PyPI, generated from
open-telemetry/opentelemetry-proto) and nothing else. Each span it receives
is written as one JSON line (the protobuf JSON mapping, plus the resource's
attributes) to the file named on the command line; it answers every export
with an empty `ExportTraceServiceResponse`, as a collector does.

    python3 receiver.py OUT.jsonl   # prints "listening http://127.0.0.1:PORT"
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OUT = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_error(415 if self.path == "/v1/traces" else 404)
            return
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except Exception as e:  # a malformed export is the exporter's bug: say so
            self.send_error(400, str(e))
            return
        with open(OUT, "a", encoding="utf-8") as out:
            for rs in request.resource_spans:
                resource = MessageToDict(rs.resource, preserving_proto_field_name=True)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        d = MessageToDict(span, preserving_proto_field_name=True)
                        # The JSON mapping gives ids in base64; OTLP/JSON and
                        # traceparent use hex.
                        d["trace_id"] = span.trace_id.hex()
                        d["span_id"] = span.span_id.hex()
                        d["parent_span_id"] = span.parent_span_id.hex()
                        d["resource"] = resource
                        d["scope"] = ss.scope.name
                        out.write(json.dumps(d) + "\n")
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
