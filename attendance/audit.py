"""Writing and verifying the tamper-evident audit log.

Each entry's hash covers its content and the previous entry's hash; `prev_hash` is unique, so two
concurrent writers cannot both extend the same tip (one fails and retries): the chain never forks.
"""
from __future__ import annotations

import functools
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from attendance.models import AuditEntry

GENESIS = "0" * 64


def _normalise(value: Any) -> Any:
    """What the JSON column will give back, so the hash computed now matches the one re-read later."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def entry_digest(prev_hash: str, at: datetime, actor: str, action: str, entity: str,
                 entity_id: str | None, before: Any, after: Any, reason: str | None) -> str:
    payload = {
        "prev": prev_hash,
        "at": at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor, "action": action, "entity": entity, "entity_id": entity_id,
        "before": before, "after": after, "reason": reason,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def record(session: Session, *, actor: str, action: str, entity: str, entity_id: Any = None,
           before: Any = None, after: Any = None, reason: str | None = None) -> AuditEntry:
    """Append an entry in the caller's transaction: the audit and the change commit together or not at all."""
    tip = session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    prev = tip or GENESIS
    at = datetime.now(timezone.utc)
    before_n, after_n = _normalise(before), _normalise(after)
    eid = None if entity_id is None else str(entity_id)
    digest = entry_digest(prev, at, actor, action, entity, eid, before_n, after_n, reason)
    entry = AuditEntry(at=at, actor=actor, action=action, entity=entity, entity_id=eid,
                       before=before_n, after=after_n, reason=reason, prev_hash=prev, hash=digest)
    session.add(entry)
    session.flush()
    return entry


@dataclass
class ChainReport:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(session: Session) -> ChainReport:
    prev = GENESIS
    n = 0
    for e in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        n += 1
        if e.prev_hash != prev:
            return ChainReport(False, n, e.id, f"entry {e.id} does not follow the previous entry (link broken)")
        digest = entry_digest(e.prev_hash, e.at, e.actor, e.action, e.entity, e.entity_id,
                              e.before, e.after, e.reason)
        if digest != e.hash:
            return ChainReport(False, n, e.id, f"entry {e.id} was changed after it was written (hash mismatch)")
        prev = e.hash
    return ChainReport(True, n)


T = TypeVar("T")


def _lost_audit_race(exc: Exception) -> bool:
    """PostgreSQL: the unique prev_hash refused a second child of the same tip. SQLite: the writer's
    snapshot went stale while another writer committed ("database is locked")."""
    text = str(getattr(exc, "orig", exc))
    return "audit_log" in text or "locked" in text


def run_with_audit_retry(session: Session, work: Callable[[], T], *, commit: bool = True,
                         attempts: int = 12) -> T:
    """Run a unit of work (and commit it unless `work` commits itself); if it lost the race for the
    audit chain's tip, roll back and run it again on fresh state. Everything it did was rolled back,
    so the rerun is exact. Jitter keeps the losers from colliding again."""
    for attempt in range(attempts):
        try:
            result = work()
            if commit:
                session.commit()
            return result
        except (IntegrityError, OperationalError) as exc:
            session.rollback()
            if not _lost_audit_race(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


def retry_audit_race(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form for use cases shaped `fn(session, ...)` that commit themselves."""

    @functools.wraps(fn)
    def wrapper(session: Session, *args: Any, **kwargs: Any) -> T:
        return run_with_audit_retry(session, lambda: fn(session, *args, **kwargs), commit=False)

    return wrapper
