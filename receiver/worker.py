"""``dbhealth-receiver-worker``: materialises due escalation steps and delivers the outbox.

One message per transaction, claimed with ``FOR UPDATE SKIP LOCKED`` so any
number of workers can run. Failures back off with jitter and are dead-lettered
after ``delivery.max_attempts`` (or at once when permanent); a page older than
``delivery.max_age_seconds`` is not sent late: it is expired and the next tier
is brought forward instead. The database being down only pauses the loop.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime

from . import audit, channels, db
from .errors import ConfigError, DatabaseUnavailable, DeliveryError
from .escalation import retry_delay
from .masking import mask_recipient
from .outbox import Claimed, claim_next, mark_dead, mark_retry, mark_sent, record_attempt
from .render import Templates
from .scheduler import run_due_step
from .settings import Settings, load_settings

log = logging.getLogger("receiver.worker")
BATCH = 50


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.templates = Templates(settings.policy.templates)

    def _expire(self, conn: db.Connection, message: Claimed, masked: str) -> None:
        mark_dead(conn, message.id, "expired: older than delivery.max_age_seconds",
                  count_attempt=False)
        record_attempt(conn, message.id, message.channel, masked, "expired", "too old")
        if message.kind == "page" and message.incident_id is not None:
            conn.execute(
                "UPDATE receiver_escalation_steps SET due_at = now() WHERE incident_id = %s"
                " AND kind = 'tier' AND status = 'pending' AND tier = (SELECT min(tier)"
                " FROM receiver_escalation_steps WHERE incident_id = %s AND kind = 'tier'"
                " AND status = 'pending')", (message.incident_id, message.incident_id))
        audit.record(conn, "notification.expired", incident_id=message.incident_id,
                     outbox_id=message.id, channel=message.channel, recipient=masked)

    def _record_failure(self, conn: db.Connection, message: Claimed, masked: str,
                        exc: DeliveryError) -> None:
        """Retry later with jittered backoff, or dead-letter (permanent, or out of attempts)."""
        delivery = self.settings.policy.delivery
        attempts = message.attempts + 1
        if exc.permanent or attempts >= delivery.max_attempts:
            mark_dead(conn, message.id, str(exc))
            outcome = "dead"
        else:
            mark_retry(conn, message.id, str(exc),
                       retry_delay(attempts, delivery.retry_base_seconds,
                                   delivery.retry_max_seconds))
            outcome = "retry"
        record_attempt(conn, message.id, message.channel, masked, outcome, str(exc))
        audit.record(conn, "notification.failed", incident_id=message.incident_id,
                     outbox_id=message.id, channel=message.channel, recipient=masked,
                     outcome=outcome, error=str(exc))
        log.warning("outbox %s %s to %s failed (%s): %s", message.id, message.channel, masked,
                    outcome, exc)

    def deliver_one(self) -> bool:
        """Send the most urgent due message; False when nothing is due."""
        delivery = self.settings.policy.delivery
        with db.transaction() as conn:
            message = claim_next(conn)
            if message is None:
                return False
            masked = mask_recipient(message.channel, message.recipient)
            age = (datetime.now(UTC) - message.created_at).total_seconds()
            if age > delivery.max_age_seconds:
                log.warning("outbox %s to %s expired after %.0fs", message.id, masked, age)
                self._expire(conn, message, masked)
                return True
            try:
                provider_id = channels.send(self.settings, message.channel, message.recipient,
                                            message.subject, message.body,
                                            delivery.send_timeout_seconds)
            except DeliveryError as exc:
                self._record_failure(conn, message, masked, exc)
                return True
            except Exception as exc:  # a bug or odd data must not wedge the queue
                # Type only: an exception's text may quote the recipient.
                log.error("outbox %s: unexpected %s while sending", message.id,
                          type(exc).__name__)
                self._record_failure(conn, message, masked, DeliveryError(
                    f"unexpected {type(exc).__name__}", permanent=False))
                return True
            mark_sent(conn, message.id, provider_id)
            record_attempt(conn, message.id, message.channel, masked, "sent", None)
            audit.record(conn, "notification.sent", incident_id=message.incident_id,
                         outbox_id=message.id, channel=message.channel, recipient=masked,
                         kind=message.kind, tier=message.tier)
            log.info("outbox %s %s %s sent to %s", message.id, message.kind, message.channel,
                     masked)
            return True

    def run_once(self) -> int:
        """One pass: every due step, then up to ``BATCH`` messages. Returns units of work done."""
        done = 0
        while run_due_step(self.settings, self.templates, datetime.now(UTC)):
            done += 1
        for _ in range(BATCH):
            if not self.deliver_one():
                break
            done += 1
        return done

    def run_forever(self, stop: threading.Event) -> None:
        pause = self.settings.worker_poll_seconds
        while not stop.is_set():
            try:
                busy = self.run_once() > 0
                pause = self.settings.worker_poll_seconds
            except DatabaseUnavailable as exc:
                log.warning("worker paused: %s", exc)
                busy, pause = False, min(30.0, pause * 2)
            except Exception:  # the loop boundary: log, back off, keep running
                log.exception("worker pass failed")
                busy, pause = False, min(30.0, pause * 2)
            if not busy:
                stop.wait(pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbhealth-receiver-worker", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run one pass and exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"{exc.message}:", *exc.details, sep="\n  ", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    if not args.once:
        # Blocked before the pool starts its threads (they inherit the mask), taken with
        # sigwait below: a handler-based stop can miss a signal that lands on another thread.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    db.open_pool(settings, role="receiver-worker")
    worker = Worker(settings)
    try:
        if args.once:
            worker.run_once()
        else:
            log.info("worker started: %s", settings.describe())
            stop = threading.Event()
            loop = threading.Thread(target=worker.run_forever, args=(stop,), name="outbox-worker")
            loop.start()
            signum = signal.sigwait(stop_signals)
            log.info("signal %s: finishing the current message and stopping", signum)
            stop.set()
            loop.join()
    finally:
        db.close_pool()
    return 0


if __name__ == "__main__":
    sys.exit(main())
