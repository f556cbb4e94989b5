"""A local OTLP/HTTP receiver for the observability rows of the benchmark: it
takes every ``POST`` (``/v1/traces``, ``/v1/logs``) and answers 200 with an
empty body, as a collector does, without decoding (its cost is not motiad's).

Run: ``python -m bench.peers.otlp_sink --port N``."""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per batch would be noise in the run's logs."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    ThreadingHTTPServer(("127.0.0.1", port), _Sink).serve_forever()


if __name__ == "__main__":
    main()
