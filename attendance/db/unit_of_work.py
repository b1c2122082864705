"""The one transaction rule: use cases write into the caller's session and never commit; this commits.

The audit log is a hash chain whose `prev_hash` is unique, so two concurrent writers cannot both
extend the same tip: the loser's unit of work is rolled back and run again from the start on fresh
state. Everything the losing attempt did was rolled back, so the rerun is exact.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

T = TypeVar("T")
P = ParamSpec("P")

ATTEMPTS = 12


def lost_audit_race(exc: BaseException) -> bool:
    """PostgreSQL: the unique prev_hash refused a second child of the same tip. SQLite: the writer's
    snapshot went stale while another writer committed ("database is locked")."""
    if not isinstance(exc, (IntegrityError, OperationalError)):
        return False
    text = str(getattr(exc, "orig", exc))
    return "audit_log" in text or "locked" in text


def run_in_transaction(session: Session, work: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Run `work` (use cases writing into `session`) and commit. On any error roll back, so nothing is
    half-written; when it lost the race for the audit chain's tip, run it again (jitter keeps the
    losers from colliding again)."""
    for attempt in range(attempts):
        try:
            result = work()
            session.commit()
            return result
        except BaseException as exc:
            session.rollback()
            if not lost_audit_race(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


def committed(use_case: Callable[Concatenate[Session, P], T]) -> Callable[Concatenate[Session, P], T]:
    """`use_case` as its own unit of work, for runners that call `fn(session, *args)` (e.g. the live
    service's database threads)."""

    def run(session: Session, *args: P.args, **kwargs: P.kwargs) -> T:
        return run_in_transaction(session, lambda: use_case(session, *args, **kwargs))

    return run
