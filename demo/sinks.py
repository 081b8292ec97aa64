"""Local stand-ins for the providers the receiver talks to, speaking their real protocols.

- ``TwilioSink``: an HTTP server with the Twilio Messages API shape (form fields
  To, From, Body; basic auth; a JSON answer with a message SID); it records every
  request, and JSON POSTs (outbound webhooks) separately in ``json_posts``.
  ``fail_next`` queues HTTP statuses to answer before succeeding again.
- ``SmtpSink``: an aiosmtpd server that records every message.

The tests use them in-process; ``dbhealth-demo sinks`` runs both for the demo and
logs what arrives, recipients masked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


@dataclass(frozen=True)
class Misbehave:
    """How the SMS sink answers one request (tests queue these in ``TwilioSink.script``).

    ``delay`` waits before answering; ``drip`` sends the answer one byte per
    ``drip`` seconds; ``close`` reads the request and hangs up without a word
    (accepted-but-unanswered); ``status``/``headers`` are the answer.
    """

    status: int = 201
    delay: float = 0.0
    drip: float = 0.0
    close: bool = False
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SmsRequest:
    path: str
    auth: tuple[str, str]
    to: str
    sender: str
    body: str


class TwilioSink:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.port = port or _free_port()
        self.received: list[SmsRequest] = []  # requests answered 2xx
        self.attempts: list[SmsRequest] = []  # every request that reached us, however answered
        self.fail_next: list[int] = []
        self.script: list[Misbehave] = []
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
                request = SmsRequest(self.path, (user, password), form.get("To", ""),
                                     form.get("From", ""), form.get("Body", ""))
                with sink._lock:
                    sink.attempts.append(request)
                    step = sink.script.pop(0) if sink.script else Misbehave(
                        status=sink.fail_next.pop(0) if sink.fail_next else 201)
                    if 200 <= step.status < 300:
                        sink.received.append(request)  # accepted, whether or not we answer
                    sid = f"SM{len(sink.attempts):032d}"
                if step.close:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                time.sleep(step.delay)
                answer = {"sid": sid, "status": "queued"} if step.status < 300 else \
                    {"code": 20429 if step.status == 429 else 21211, "message": "test failure"}
                payload = json.dumps(answer).encode()
                if step.drip:  # the whole answer, status line first, one byte at a time
                    whole = (f"HTTP/1.1 {step.status} X\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
                    for byte in whole:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(step.drip)
                    return
                self.send_response(step.status)
                for name, value in step.headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages_to(self, number: str) -> list[SmsRequest]:
        with self._lock:
            return [m for m in self.received if m.to == number]

    def messages_attempted(self, number: str) -> list[SmsRequest]:
        """Every request to ``number`` that reached us, however it was answered."""
        with self._lock:
            return [m for m in self.attempts if m.to == number]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Recorder:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)  # a slow relay
        with self.sink.lock:
            self.sink.received.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpSink:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.port = port or _free_port()
        self.host = host
        self.received: list[Message] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None
        self.delay = 0.0  # seconds each message's DATA takes (a slow relay)
        self.refuse: set[str] = set()  # recipients answered 550

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(_Recorder(self), hostname=self.host, port=self.port)
        self.controller.start()
        _wait_for_port(self.port)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages_to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.received if m["To"] == address]


def _mask(address: str) -> str:
    return address[:4] + "***" if len(address) > 4 else "***"


def main(argv: list[str] | None = None) -> int:
    """Run both sinks until killed, logging each message (recipients masked)."""
    parser = argparse.ArgumentParser(prog="dbhealth-demo sinks")
    parser.add_argument("--sms-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 in a container, for the receiver's)")
    args = parser.parse_args(argv)
    sms, smtp = TwilioSink(args.sms_port, args.host), SmtpSink(args.smtp_port, args.host)
    sms.start()
    smtp.start()
    print(f"sinks: SMS API on {args.host}:{sms.port}, SMTP on {args.host}:{smtp.port}", flush=True)
    seen_sms = seen_mail = 0
    while True:
        time.sleep(0.5)
        with sms._lock:
            new_sms = sms.received[seen_sms:]
        for m in new_sms:
            print(f"sms   to {_mask(m.to)}: {m.body}", flush=True)
        with smtp.lock:
            new_mail = smtp.received[seen_mail:]
        for mail in new_mail:
            print(f"email to {_mask(str(mail['To']))}: {mail['Subject']}", flush=True)
        seen_sms += len(new_sms)
        seen_mail += len(new_mail)
