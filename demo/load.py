"""Query traffic for the demo database: a mix of wedding lookups, slow seq-scan
lookups on the deliberately unindexed columns, writes, plus sessions left idle
and idle in transaction, so every exporter signal has something to show."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

Progress = Callable[[str], None]
APPLICATION_NAME = "wedsync-demo-load"


@dataclass(frozen=True)
class LoadPlan:
    duration_seconds: float = 60.0
    clients: int = 4
    rate_per_client: float = 5.0  # queries per second per client
    idle_sessions: int = 5
    idle_in_transaction_sessions: int = 2


def _workload(cur: psycopg.Cursor[tuple[object, ...]], rng: random.Random, sizes: dict[str, int],
              today: date) -> None:
    pick = rng.random()
    guest = rng.randint(1, max(1, sizes["guests"]))
    if pick < 0.15:  # seq scan: guests has no index on email
        cur.execute("SELECT id, wedding_id, rsvp_status FROM guests WHERE email = %s",
                    (f"guest{guest}@example.com",))
    elif pick < 0.30:  # seq scan: bookings has no index on vendor_id
        cur.execute("SELECT id, wedding_id, service_start FROM bookings "
                    "WHERE vendor_id = %s AND status = 'confirmed'",
                    (rng.randint(1, sizes["vendors"]),))
    elif pick < 0.50:
        cur.execute("SELECT full_name, rsvp_status, dietary FROM guests WHERE wedding_id = %s",
                    (rng.randint(1, sizes["weddings"]),))
    elif pick < 0.65:
        cur.execute("SELECT id, venue_id, ceremony_time FROM weddings WHERE wedding_date = %s",
                    (today + timedelta(days=rng.randint(0, 30)),))
    elif pick < 0.75:
        cur.execute("SELECT v.id, v.name FROM venues v WHERE v.capacity >= %s AND NOT EXISTS "
                    "(SELECT 1 FROM weddings w WHERE w.venue_id = v.id AND w.wedding_date = %s) "
                    "LIMIT 20", (rng.randint(50, 200), today + timedelta(days=rng.randint(1, 90))))
    elif pick < 0.90:
        cur.execute("UPDATE guests SET rsvp_status = %s WHERE id = %s",
                    (rng.choice(["accepted", "declined"]), guest))
    else:
        booking = rng.randint(1, sizes["bookings"])
        cur.execute("INSERT INTO payments (booking_id, amount_pence, status, paid_at) "
                    "VALUES (%s, %s, 'paid', now())", (booking, rng.randint(1000, 90000)))


def _sizes(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT (SELECT max(id) FROM guests), (SELECT max(id) FROM vendors), "
                           "(SELECT max(id) FROM weddings), (SELECT max(id) FROM bookings)").fetchone()
    assert row is not None
    return dict(zip(("guests", "vendors", "weddings", "bookings"), (int(v or 1) for v in row),
                    strict=True))


def run_load(dsn: str, plan: LoadPlan, progress: Progress = print,
             stop: threading.Event | None = None) -> int:
    """Run the plan until its duration passes (or ``stop`` is set); returns queries run."""
    stop = stop or threading.Event()
    sizes = _sizes(dsn)
    today = date.today()
    counter = [0]
    lock = threading.Lock()
    kwargs = {"autocommit": True, "application_name": APPLICATION_NAME}

    held: list[psycopg.Connection[tuple[object, ...]]] = []
    for _ in range(plan.idle_sessions):
        held.append(psycopg.connect(dsn, **kwargs))  # type: ignore[arg-type]
    for _ in range(plan.idle_in_transaction_sessions):
        conn = psycopg.connect(dsn, application_name=APPLICATION_NAME)
        conn.execute("SELECT count(*) FROM venues")  # opens a transaction and leaves it open
        held.append(conn)

    def client(seed: int) -> None:
        rng = random.Random(seed)
        interval = 1.0 / plan.rate_per_client if plan.rate_per_client > 0 else 0.0
        with psycopg.connect(dsn, **kwargs) as conn, conn.cursor() as cur:  # type: ignore[arg-type]
            while not stop.is_set():
                started = time.monotonic()
                _workload(cur, rng, sizes, today)
                with lock:
                    counter[0] += 1
                stop.wait(max(0.0, interval - (time.monotonic() - started)))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(plan.clients)]
    for t in threads:
        t.start()
    progress(f"load: {plan.clients} clients at {plan.rate_per_client}/s each, "
             f"{plan.idle_sessions} idle and {plan.idle_in_transaction_sessions} "
             f"idle-in-transaction sessions, for {plan.duration_seconds:.0f}s")
    deadline = time.monotonic() + plan.duration_seconds
    try:
        while not stop.wait(min(5.0, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                break
            progress(f"load: {counter[0]:,} queries so far")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        for conn in held:
            conn.close()
    progress(f"load: done, {counter[0]:,} queries")
    return counter[0]
