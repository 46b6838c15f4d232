"""The tracker's lock-out of wrong query codes, in the event store's own database (SQLite and
PostgreSQL): five wrong codes within 15 minutes lock a receipt number for 15 minutes, for
every process that shares the store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from domain.application import Hallwatch
from domain.vocabulary import TIME_ZONE
from infra.dashboard.tracker import LOCK, MAX_FAILURES, WINDOW, Lockout, LockoutStore

T0 = datetime(2026, 3, 20, 10, 0, tzinfo=TIME_ZONE)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _store(app: Hallwatch, clock: Clock) -> LockoutStore:
    return LockoutStore(app.recorder, clock=clock)


def _rows(store: LockoutStore) -> int:
    with store.recorder.datastore.transaction(commit=False) as c:
        c.execute("SELECT COUNT(*) AS n FROM hallwatch_tracker_lockouts")
        row = c.fetchone()
    return int(row["n"])


def test_the_fifth_wrong_code_locks_for_fifteen_minutes(app: Hallwatch) -> None:
    clock = Clock()
    store = _store(app, clock)
    assert store.state("receipt-a") == Lockout(None, MAX_FAILURES)
    for left in (4, 3, 2, 1):
        assert store.fail("receipt-a") == Lockout(None, left)
        clock.move(minutes=1)
    locked = store.fail("receipt-a")
    assert locked.locked_until == clock.now + LOCK and locked.attempts_left == 0
    assert store.state("receipt-a") == locked
    assert store.state("receipt-b") == Lockout(None, MAX_FAILURES)  # one number at a time
    clock.move(minutes=10)
    assert store.fail("receipt-a") == locked  # neither counted nor extended while locked
    clock.move(minutes=4, seconds=59)
    assert store.state("receipt-a").locked_until is not None
    clock.move(seconds=1)  # exactly 15 minutes after the fifth wrong code
    assert store.state("receipt-a") == Lockout(None, MAX_FAILURES)
    assert store.fail("receipt-a") == Lockout(None, 4)


def test_wrong_codes_are_counted_in_a_sliding_window(app: Hallwatch) -> None:
    clock = Clock()
    store = _store(app, clock)
    for minute in (0, 5, 10, 14):  # four wrong codes within 15 minutes
        clock.now = T0 + timedelta(minutes=minute)
        store.fail("receipt-a")
    clock.now = T0 + WINDOW  # the first one is now 15 minutes old: forgotten
    assert store.state("receipt-a") == Lockout(None, 2)
    assert store.fail("receipt-a") == Lockout(None, 1)
    clock.move(minutes=1)
    assert store.fail("receipt-a").locked_until == clock.now + LOCK


def test_the_lock_holds_for_every_process_of_the_store(
    app: Hallwatch, reopen: Callable[[], Hallwatch]
) -> None:
    clock = Clock()
    here = _store(app, clock)
    for _ in range(3):
        here.fail("receipt-a")
    there = _store(reopen(), clock)  # another dashboard replica, or the same one restarted
    assert there.state("receipt-a") == Lockout(None, 2)
    there.fail("receipt-a")
    here.fail("receipt-a")
    assert there.state("receipt-a").locked_until == T0 + LOCK
    assert _store(reopen(), clock).state("receipt-a").locked_until == T0 + LOCK


def test_concurrent_wrong_codes_are_each_counted_once(
    app: Hallwatch, reopen: Callable[[], Hallwatch]
) -> None:
    clock = Clock()
    stores = [_store(app, clock), _store(reopen(), clock)]
    results: list[Lockout] = []
    lock = threading.Lock()

    def hammer(store: LockoutStore) -> None:
        for _ in range(6):
            got = store.fail("receipt-a")
            with lock:
                results.append(got)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counted = sorted(r.attempts_left for r in results if r.locked_until is None)
    assert counted == [1, 2, 3, 4]  # exactly four went through, the fifth locked
    assert len(results) == 24 and all(r.attempts_left == 0 for r in results if r.locked_until)


def test_subjects_whose_counts_and_lock_ran_out_are_forgotten(app: Hallwatch) -> None:
    clock = Clock()
    store = _store(app, clock)
    store.fail("receipt-a")
    for _ in range(MAX_FAILURES):
        store.fail("receipt-b")
    assert _rows(store) == 2
    clock.move(minutes=15, seconds=1)
    store.fail("receipt-c")  # a failure purges what has run out
    assert _rows(store) == 1
    assert store.state("receipt-a") == store.state("receipt-b") == Lockout(None, MAX_FAILURES)
