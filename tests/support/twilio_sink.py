"""A local HTTP server speaking the Twilio Messages API shape; records every request.

JSON POSTs (outbound webhooks) are recorded separately in ``json_posts``.

``fail_next`` queues HTTP statuses to answer before succeeding again, to drive
the receiver's retry and dead-letter paths.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from .ports import free_port


@dataclass(frozen=True)
class SmsRequest:
    path: str
    auth: tuple[str, str]
    to: str
    sender: str
    body: str


class TwilioSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[SmsRequest] = []
        self.fail_next: list[int] = []
        self.json_posts: list[tuple[str, dict[str, object]]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                if self.headers.get("Content-Type") == "application/json":
                    # Outbound JSON webhooks land here too (any path).
                    with sink._lock:
                        sink.json_posts.append((self.path, json.loads(self.rfile.read(length))))
                    self.send_response(204)
                    self.end_headers()
                    return
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                raw = self.headers.get("Authorization", "").removeprefix("Basic ")
                user, _, password = base64.b64decode(raw).decode().partition(":")
                with sink._lock:
                    status = sink.fail_next.pop(0) if sink.fail_next else 201
                    if status == 201:
                        sink.received.append(SmsRequest(self.path, (user, password),
                                                        form.get("To", ""), form.get("From", ""),
                                                        form.get("Body", "")))
                        sid = f"SM{len(sink.received):032d}"
                answer = {"sid": sid, "status": "queued"} if status == 201 else \
                    {"code": 20429 if status == 429 else 21211, "message": "test failure"}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages_to(self, number: str) -> list[SmsRequest]:
        with self._lock:
            return [m for m in self.received if m.to == number]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
