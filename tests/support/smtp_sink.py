"""A local aiosmtpd server that records every message; can be stopped and restarted on its port."""

from __future__ import annotations

import threading
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from .ports import free_port, wait_for_port


class _Recorder:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.sink.lock:
            self.sink.received.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Message] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(_Recorder(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages_to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.received if m["To"] == address]
