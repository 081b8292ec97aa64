"""The serving model under real gunicorn (receiver/serving.py): slow or hostile clients
cannot stall the receiver, and every answer gunicorn gives itself is JSON.

Everything is a real process and a real socket. Clients trickle at 1 byte/s (the
pacing is a wait on the socket, so a client hears the server at once); the test
waits for observable states with ``wait_until``; the only time bounds are
generous ones past the deadlines the receiver is configured with.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from receiver import gunicorn_conf

from ..support.polling import wait_until
from ..support.receiver_stack import TOKEN, Gunicorn, make_policy, receiver_env, write_policy
from .payloads import body, firing

pytestmark = pytest.mark.slow

HEAD_DEADLINE = float(gunicorn_conf.keepalive)  # total time to send a request head
BODY_DEADLINE = 4.0  # RECEIVER_REQUEST_TIMEOUT_SECONDS for these tests
MAX_BODY = 4096  # RECEIVER_MAX_BODY_BYTES: small, so "too large" costs few bytes
PROMPT = 5.0  # a valid request is answered well under this, whatever else is going on
SLACK = 10.0  # generous: how long past its deadline the server may take to cut a client
AUTH = f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"


@pytest.fixture
def env(receiver_dsn: str, tmp_path: Path) -> dict[str, str]:
    return receiver_env(receiver_dsn, write_policy(make_policy(), tmp_path),
                        RECEIVER_REQUEST_TIMEOUT_SECONDS=str(BODY_DEADLINE),
                        RECEIVER_MAX_BODY_BYTES=str(MAX_BODY))


@pytest.fixture
def receiver(env: dict[str, str]) -> Iterator[Gunicorn]:
    server = Gunicorn(env, workers=2)
    server.start()
    yield server
    server.stop()


def post_webhook(server: Gunicorn, fingerprint: str) -> tuple[int, float]:
    """POST one valid webhook; its status and how long the answer took."""
    started = time.monotonic()
    response = requests.post(f"{server.url}/api/v1/alerts", data=body(firing(fingerprint)),
                             headers={"Authorization": f"Bearer {TOKEN}",
                                      "Content-Type": "application/json"}, timeout=60)
    return response.status_code, time.monotonic() - started


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP answer (skipping 1xx), by its Content-Length."""
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                raise ConnectionError(f"closed before a full answer: {data!r}")
            data += piece
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if status >= 200:
            break
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(data) < int(headers.get("content-length", 0)):
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return status, headers, data


def exchange(server: Gunicorn, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes on a fresh connection; the answer's status, headers and JSON body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        status, headers, data = read_answer(sock)
    return status, headers, json.loads(data)


def chunked(payload: bytes, size: int = 1000) -> bytes:
    pieces = [payload[i:i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


class Trickler(threading.Thread):
    """Sends ``prefix`` at once, then ``trickle`` at 1 byte/s until the server answers or closes."""

    def __init__(self, port: int, prefix: bytes, trickle: bytes, give_up: float):
        super().__init__(daemon=True)
        self.port, self.prefix, self.trickle, self.give_up = port, prefix, trickle, give_up
        self.sent = 0  # trickled bytes so far
        self.cut_after: float | None = None  # seconds from the prefix until the server cut us
        self.answer = b""

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=self.give_up) as sock:
            sock.sendall(self.prefix)
            started = time.monotonic()
            for byte in self.trickle:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    break  # the server closed on us
                self.sent += 1
                if select.select([sock], [], [], 1.0)[0] or time.monotonic() - started > self.give_up:
                    break  # the server spoke (an answer or EOF), or we give up
            try:
                while piece := sock.recv(65536):
                    self.answer += piece
            except OSError:  # reset, or our own give-up timeout (then cut_after stays None)
                if time.monotonic() - started > self.give_up:
                    return
            self.cut_after = time.monotonic() - started


def test_trickling_clients_neither_delay_webhooks_nor_outlive_the_deadlines(
        receiver: Gunicorn) -> None:
    give_up = max(HEAD_DEADLINE, BODY_DEADLINE) + SLACK + 10
    head = (f"POST /api/v1/alerts HTTP/1.1\r\nHost: receiver\r\n{AUTH}"
            "X-Padding: " + "x" * 200 + "\r\n").encode()
    slow_heads = [Trickler(receiver.port, b"", head, give_up) for _ in range(20)]
    slow_bodies = [Trickler(receiver.port, head + b"Content-Length: 1000\r\n\r\n", b"{" * 1000,
                            give_up) for _ in range(12)]
    slow_bodies += [Trickler(receiver.port, head + b"Transfer-Encoding: chunked\r\n\r\n",
                             b"3e8\r\n" + b"{" * 1000, give_up) for _ in range(12)]
    tricklers = slow_heads + slow_bodies
    for trickler in tricklers:
        trickler.start()
    wait_until(lambda: all(t.sent >= 2 for t in tricklers), timeout=30,
               what="every trickler to be connected and sending")
    held = sum(t.cut_after is None for t in tricklers)

    sequential = [post_webhook(receiver, f"seq{i:013d}") for i in range(10)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        concurrent = list(pool.map(lambda i: post_webhook(receiver, f"con{i:013d}"), range(10)))
    assert held == len(tricklers), "the webhooks must be sent while every trickler is connected"
    assert [status for status, _ in sequential + concurrent] == [200] * 20
    slowest = max(elapsed for _, elapsed in sequential + concurrent)
    assert slowest < PROMPT, f"a webhook took {slowest:.2f}s next to {held} trickling clients"

    for trickler in tricklers:
        trickler.join(timeout=give_up + 10)
    head_cuts = [t.cut_after for t in slow_heads]
    assert all(c is not None and c < HEAD_DEADLINE + SLACK for c in head_cuts), head_cuts
    assert all(t.answer == b"" for t in slow_heads), "a head that never ends gets no answer"
    body_cuts = [t.cut_after for t in slow_bodies]
    assert all(c is not None and c < BODY_DEADLINE + SLACK for c in body_cuts), body_cuts
    for trickler in slow_bodies:
        assert trickler.answer.startswith(b"HTTP/1.1 408 "), trickler.answer
        assert json.loads(trickler.answer.split(b"\r\n\r\n", 1)[1])["error"] == "request_timeout"


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_body_over_the_limit_answers_413_json(receiver: Gunicorn, framing: str) -> None:
    payload = b"[" + b"0," * MAX_BODY + b"0]"
    if framing == "chunked":
        request = b"Transfer-Encoding: chunked\r\n\r\n" + chunked(payload)
    else:
        request = b"Content-Length: %d\r\n\r\n" % len(payload) + payload
    status, headers, answer = exchange(
        receiver, f"POST /api/v1/alerts HTTP/1.1\r\nHost: r\r\n{AUTH}".encode() + request)
    assert (status, headers["content-type"], answer["error"]) == (
        413, "application/json", "payload_too_large")


def test_chunked_webhooks_are_recorded_and_the_connection_is_reused(receiver: Gunicorn) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        for fingerprint in ("chunked000000001", "chunked000000002"):
            sock.sendall(f"POST /api/v1/alerts HTTP/1.1\r\nHost: r\r\n{AUTH}".encode()
                         + b"Transfer-Encoding: chunked\r\n\r\n"
                         + chunked(body(firing(fingerprint)), size=100))
            status, _headers, answer = read_answer(sock)
            assert (status, json.loads(answer)["new_alerts"]) == (200, 1)


def test_expect_100_continue_gets_its_interim_answer_before_the_body(receiver: Gunicorn) -> None:
    payload = body(firing("continue00000001"))
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(f"POST /api/v1/alerts HTTP/1.1\r\nHost: r\r\n{AUTH}Expect: 100-continue\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode())
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(payload)
        assert read_answer(sock)[0] == 200


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n",
                                    b"2;bad ext=\x01\r\n{}\r\n0\r\n\r\n"],
                         ids=["chunk-size", "chunk-terminator", "chunk-extension"])
def test_bad_chunked_encoding_answers_400_json(receiver: Gunicorn, chunks: bytes) -> None:
    status, headers, answer = exchange(
        receiver, f"POST /api/v1/alerts HTTP/1.1\r\nHost: r\r\n{AUTH}".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    assert (status, headers["content-type"], answer["error"]) == (
        400, "application/json", "bad_request")
    assert answer["message"]


TOO_LARGE = (431, "request_header_fields_too_large")


@pytest.mark.parametrize(("request_bytes", "expected"), [
    (b"THIS IS NOT HTTP\r\n\r\n", (400, "bad_request")),
    (b"GET /healthz HTTP/9.9\r\nHost: r\r\n\r\n", (400, "bad_request")),
    (b"GET /healthz HTTP/1.1\r\nHost: r\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", TOO_LARGE),
    (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n",
     TOO_LARGE),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: r\r\n\r\n", (414, "uri_too_long")),
], ids=["request-line", "http-version", "header-size", "header-count", "uri-length"])
def test_requests_gunicorn_cannot_parse_answer_4xx_json(receiver: Gunicorn, request_bytes: bytes,
                                                        expected: tuple[int, str]) -> None:
    status, headers, answer = exchange(receiver, request_bytes)
    assert (status, answer["error"]) == expected
    assert headers["content-type"] == "application/json"
    assert set(answer) == {"error", "message"} and answer["message"]


def test_two_receivers_started_together_both_answer(env: dict[str, str], tmp_path: Path) -> None:
    # Where gunicorn 27 would put its per-user control socket, were it enabled.
    (tmp_path / "home").mkdir()
    (tmp_path / "xdg").mkdir()
    user = {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}
    servers = [Gunicorn({**env, **user}, workers=1) for _ in range(2)]
    try:
        for server in servers:
            server.spawn()
        wait_until(lambda: all(s.answers_healthz() for s in servers), timeout=30,
                   what="both receivers to answer /healthz")
        assert [post_webhook(s, f"twin{i:012d}")[0] for i, s in enumerate(servers)] == [200, 200]
        assert all(s.proc is not None and s.proc.poll() is None for s in servers)
        assert list((tmp_path / "xdg").iterdir()) == []
        assert not (tmp_path / "home" / ".gunicorn").exists()
    finally:
        for server in servers:
            server.stop()


def test_slow_database_call_does_not_block_another_request_in_the_same_worker(
        env: dict[str, str], receiver_dsn: str,
        sql: psycopg.Connection[tuple[object, ...]]) -> None:
    # statement_timeout follows the database timeout: the held lock must outlast the test.
    server = Gunicorn({**env, "RECEIVER_DATABASE_TIMEOUT_SECONDS": "30"}, workers=1)
    server.start()
    blocked: dict[str, tuple[int, float]] = {}
    webhook = threading.Thread(target=lambda: blocked.update(r=post_webhook(server, "locked000000001")))

    def webhook_waits_on_the_lock() -> bool:
        row = sql.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                          " AND application_name LIKE 'dbhealth-receiver-%'").fetchone()
        return bool(row and row[0] == 1)

    try:
        with psycopg.connect(receiver_dsn) as locker:
            locker.execute("LOCK TABLE receiver_webhook_inbox IN ACCESS EXCLUSIVE MODE")
            webhook.start()
            wait_until(webhook_waits_on_the_lock, timeout=20, what="the webhook to wait on the lock")
            for _ in range(5):
                started = time.monotonic()
                assert requests.get(f"{server.url}/healthz", timeout=60).status_code == 200
                took = time.monotonic() - started
                assert took < PROMPT, f"/healthz took {took:.1f}s behind a blocked database call"
            assert webhook.is_alive() and webhook_waits_on_the_lock(), "still blocked meanwhile"
            locker.rollback()
        webhook.join(timeout=60)
        assert blocked["r"][0] == 200
    finally:
        server.stop()


def test_worker_refuses_to_boot_when_psycopg_would_block_the_hub(env: dict[str, str]) -> None:
    # What importing psycopg in the master would cause: the blocking C wait function.
    server = Gunicorn({**env, "PSYCOPG_WAIT_FUNC": "wait_c"}, workers=1)
    server.spawn()
    try:
        wait_until(lambda: server.proc is not None and server.proc.poll() is not None, timeout=30,
                   what="gunicorn to give up on a worker that cannot boot")
        assert server.proc is not None and server.proc.returncode != 0
        assert "psycopg.waiting.wait is wait_c" in server.logs()
    finally:
        server.stop()
