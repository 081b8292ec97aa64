"""``dbhealth-receiver-worker``: due escalation steps, the vendor roster, and the outbox.

Independent loops, each in its own thread, so no part waits for another:
- ``senders_per_channel`` senders per channel (SMS, email, webhook): a slow SMTP
  relay holds only email senders, and each sender takes the most urgent row of
  its channel first (emergency, critical, warning, info, then vendors);
- one loop for due escalation steps, one for the vendor roster snapshot, and
  one that LISTENs for new outbox rows so that a sender wakes at once.
A send is claimed (attempt counted, lease, committed) before the network call
and recorded after it (``outbox``); the decisions are ``delivery``'s. A failing
loop backs off and goes on; the database being down only pauses them. SIGTERM:
each sender finishes the message in hand (at most one send deadline) and stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import psycopg

from . import audit, roster
from .channels import CHANNELS, Channels
from .db import ReceiverDB
from .delivery import (
    Dead,
    DeliveryError,
    Postpone,
    Retry,
    SendFailure,
    after_send,
    before_send,
    rate_limit_until,
)
from .errors import ConfigError, DatabaseUnavailable
from .incidents import check_tier_reachable
from .masking import mask_recipient
from .messages import escalation_for
from .outbox import (
    Claimed,
    claim,
    mark_dead,
    mark_retry,
    mark_sent,
    next_candidate,
    postpone,
    recent_sends,
    record_attempt,
)
from .roster_query import COUPLES, VENDORS
from .scheduler import run_due_step
from .settings import Settings, load_settings

log = logging.getLogger("receiver.worker")
RATE_LIMITED_KINDS = ("page", "resolved")


class Worker:
    def __init__(self, settings: Settings, database: ReceiverDB | None = None):
        self.settings = settings
        self.db = database or ReceiverDB(settings, role="receiver-worker")
        self.ctx = escalation_for(settings)
        self.channels = Channels(settings)
        self.wake = {channel: threading.Event() for channel in CHANNELS}

    # --- one message ------------------------------------------------------------------

    def _claim(self, channel: str) -> tuple[Claimed, bool] | bool | None:
        """Claim the next due message: (message, blind) to send, True if handled, None if none."""
        delivery = self.settings.policy.delivery
        with self.db.transaction() as conn:
            found = next_candidate(conn, channel)
            if found is None:
                return None
            message, now = found
            masked = mask_recipient(channel, message.recipient)
            limited = None
            if message.kind in RATE_LIMITED_KINDS and delivery.recipient_rate_limit:
                limited = rate_limit_until(
                    recent_sends(conn, message.recipient_key, channel,
                                 delivery.recipient_rate_window_seconds),
                    delivery.recipient_rate_limit, delivery.recipient_rate_window_seconds, now)
            decision = before_send(message.claim, now, limited)
            if isinstance(decision, Postpone):
                postpone(conn, message.id, decision.until)
                log.info("outbox %s to %s rate-limited until %s", message.id, masked,
                         decision.until.isoformat(timespec="seconds"))
                return True
            if isinstance(decision, Dead):
                self._dead(conn, message, masked, decision, fence=None)
                return True
            claim(conn, message.id, delivery.send_timeout_seconds, blind=decision.blind)
            return message, decision.blind

    def _dead(self, conn: psycopg.Connection[tuple[object, ...]], message: Claimed, masked: str,
              decision: Dead, fence: int | None) -> None:
        if not mark_dead(conn, message.id, decision.reason, config_fault=decision.config_fault,
                         fence=fence):
            return  # another sender owns the row now
        record_attempt(conn, message.id, message.channel, masked, decision.outcome,
                       decision.reason, config_fault=decision.config_fault)
        audit.record(conn, f"notification.{decision.outcome}", incident_id=message.incident_id,
                     outbox_id=message.id, channel=message.channel, recipient=masked,
                     kind=message.kind, tier=message.tier, error=decision.reason)
        log.warning("outbox %s %s to %s %s: %s", message.id, message.channel, masked,
                    decision.outcome, decision.reason)
        if message.kind == "page" and message.incident_id is not None:
            check_tier_reachable(conn, self.ctx, message.incident_id, message.tier)

    def _record(self, message: Claimed, blind: bool, provider_id: str | None,
                failure: SendFailure | None) -> None:
        masked = mask_recipient(message.channel, message.recipient)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT now()").fetchone()
            assert row is not None
            claimed = replace(message.claim,
                              blind_retries=message.claim.blind_retries + (1 if blind else 0))
            result = after_send(claimed, failure, self.settings.policy.delivery, row[0])
            if isinstance(result, Dead):
                self._dead(conn, message, masked, result, fence=claimed.attempts)
            elif isinstance(result, Retry):
                if not mark_retry(conn, message.id, result.reason, result.at,
                                  config_fault=result.config_fault, blind=result.ambiguous,
                                  fence=claimed.attempts):
                    return
                outcome = "ambiguous" if result.ambiguous else "retry"
                record_attempt(conn, message.id, message.channel, masked, outcome, result.reason,
                               config_fault=result.config_fault)
                audit.record(conn, "notification.failed", incident_id=message.incident_id,
                             outbox_id=message.id, channel=message.channel, recipient=masked,
                             outcome=outcome, error=result.reason,
                             config_fault=result.config_fault)
                if result.config_fault:
                    log.error("CONFIGURATION FAULT on %s: %s (outbox %s keeps retrying; "
                              "fix the credentials/URL)", message.channel, result.reason,
                              message.id)
                    first = not message.config_fault  # re-check the tier on the first one only
                    if first and message.kind == "page" and message.incident_id is not None:
                        check_tier_reachable(conn, self.ctx, message.incident_id, message.tier)
                else:
                    log.warning("outbox %s %s to %s failed (%s): %s", message.id,
                                message.channel, masked, outcome, result.reason)
            else:
                mark_sent(conn, message.id, provider_id)
                record_attempt(conn, message.id, message.channel, masked, "sent", None)
                audit.record(conn, "notification.sent", incident_id=message.incident_id,
                             outbox_id=message.id, channel=message.channel, recipient=masked,
                             kind=message.kind, tier=message.tier)
                log.info("outbox %s %s %s sent to %s", message.id, message.kind,
                         message.channel, masked)

    def deliver_one(self, channel: str) -> bool:
        """Handle the most urgent due message of ``channel``; False when nothing is due."""
        claimed = self._claim(channel)
        if claimed is None:
            return False
        if claimed is True or claimed is False:
            return True
        message, blind = claimed
        provider_id, failure = None, None
        try:
            provider_id = self.channels.send(channel, message.recipient, message.subject,
                                             message.body,
                                             self.settings.policy.delivery.send_timeout_seconds)
        except DeliveryError as exc:
            failure = exc.failure
        except Exception as exc:  # a bug or odd data must not wedge the queue
            # Type only: an exception's text may quote the recipient.
            log.error("outbox %s: unexpected %s while sending", message.id, type(exc).__name__)
            failure = SendFailure(f"unexpected {type(exc).__name__}")
        self._record(message, blind, provider_id, failure)
        return True

    # --- loops ------------------------------------------------------------------------

    def run_steps_once(self) -> int:
        done = 0
        while run_due_step(self.db, self.ctx, self.settings):
            done += 1
        return done

    def refresh_roster_once(self) -> bool:
        """Refresh the vendor (and, where enabled, couple) roster snapshots when due;
        True when one ran."""
        policy = self.settings.policy
        audiences = [a for a, on in ((VENDORS, policy.vendors.enabled),
                                     (COUPLES, policy.couples.enabled)) if on]
        ran = False
        for audience in audiences:
            with self.db.transaction() as conn:
                row = conn.execute("SELECT now()").fetchone()
                assert row is not None
                now: datetime = row[0]
                today = now.astimezone(policy.zone).date()
                status = roster.roster_status(conn, today, audience)
                if not roster.refresh_due(status.refreshed_at, now, policy):
                    continue
                ran = True
                try:
                    result = roster.refresh_roster(conn, self.settings.vendor_dsn, policy, today,
                                                   audience)
                except roster.RosterError as exc:
                    log.warning("%s roster: live source unavailable (%s); keeping the snapshot",
                                audience.kind, type(exc).__name__)
                    continue
            log.info("%s roster refreshed: %s", audience.kind, result)
        return ran

    def run_once(self) -> int:
        """Steps, then every channel until nothing is due (tests and ``--once``)."""
        done = self.run_steps_once()
        for channel in CHANNELS:
            while self.deliver_one(channel):
                done += 1
        return done + self.run_steps_once()

    def _loop(self, name: str, work: Callable[[], object], stop: threading.Event,
              wake: threading.Event | None = None) -> None:
        poll = self.settings.worker_poll_seconds
        pause = poll
        while not stop.is_set():
            try:
                busy = bool(work())
                pause = poll
            except DatabaseUnavailable as exc:
                log.warning("%s paused: %s", name, exc)
                busy, pause = False, min(30.0, pause * 2)
            except Exception:  # the loop boundary: log, back off, keep running
                log.exception("%s pass failed", name)
                busy, pause = False, min(30.0, pause * 2)
            if not busy:
                (wake or stop).wait(pause)
                if wake is not None:
                    wake.clear()

    def _listen(self, stop: threading.Event) -> None:
        """Wake a channel's senders as soon as a row for it is committed (NOTIFY)."""
        while not stop.is_set():
            try:
                with psycopg.connect(self.settings.database_url, autocommit=True,
                                     application_name="dbhealth-receiver-listen",
                                     connect_timeout=5) as conn:
                    conn.execute("LISTEN receiver_outbox")
                    while not stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.payload in self.wake:
                                self.wake[note.payload].set()
            except psycopg.Error as exc:
                log.debug("outbox listener reconnecting (%s)", type(exc).__name__)
                stop.wait(2.0)

    def run_forever(self, stop: threading.Event) -> None:
        loops = [threading.Thread(target=self._loop, name="steps", daemon=True,
                                  args=("steps", self.run_steps_once, stop)),
                 threading.Thread(target=self._loop, name="roster", daemon=True,
                                  args=("roster", self.refresh_roster_once, stop)),
                 threading.Thread(target=self._listen, name="listen", daemon=True, args=(stop,))]
        for channel in CHANNELS:
            for number in range(self.settings.policy.delivery.senders_per_channel):
                loops.append(threading.Thread(
                    target=self._loop, name=f"send-{channel}-{number}", daemon=True,
                    args=(f"{channel} sender", lambda c=channel: self.deliver_one(c), stop,
                          self.wake[channel])))
        for thread in loops:
            thread.start()
        stop.wait()
        for wake in self.wake.values():
            wake.set()
        for thread in loops:
            thread.join()


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
    logging.getLogger("psycopg.pool").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.ERROR)
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    if not args.once:
        # Blocked before any thread starts (they inherit the mask), taken with sigwait
        # below: a handler-based stop can miss a signal that lands on another thread.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    worker = Worker(settings)
    try:
        if args.once:
            worker.run_once()
        else:
            log.info("worker started: %s", settings.describe())
            stop = threading.Event()
            runner = threading.Thread(target=worker.run_forever, args=(stop,), name="worker")
            runner.start()
            signum = signal.sigwait(stop_signals)
            log.info("signal %s: finishing the messages in hand and stopping", signum)
            stop.set()
            runner.join()
    finally:
        worker.channels.close()
        worker.db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
