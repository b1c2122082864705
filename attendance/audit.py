"""Writing and verifying the tamper-evident audit log.

Each entry's hash covers its content and the previous entry's hash; `prev_hash` is unique, so two
concurrent writers cannot both extend the same tip (one fails and its unit of work is retried,
see attendance.db.unit_of_work): the chain never forks.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
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
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
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
    at = datetime.now(UTC)
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
