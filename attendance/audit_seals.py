"""Seals that make the audit log hold against someone who can write to the database.

The hash chain (attendance.audit) catches an edited or deleted entry, but a person with write access
to the database can edit an entry and recompute every later hash, and can edit attendance_records
directly, which the chain never covered. Two seals close those gaps:

- Record seals: whenever a closed apel's attendance records change (at its close, and at every later
  correction or review), the same transaction appends an `apel.records_sealed` entry carrying a
  digest of the apel's records as they now are. `verify_seals` recomputes each closed apel's digest
  from the table and compares it with its latest seal, so a status edited in the table is found.
  Sealing hooks the ORM session (flushes that touch a closed apel's records), so no use case can
  forget it; a change made outside the ORM is exactly what the check is for.
- Signed checkpoints: an `audit.checkpoint` entry holds the id and hash of the log's tip at that
  moment, signed with the installation's Ed25519 key (the key that signs reports, kept on disk, not
  in the database). A rewrite of any entry before a checkpoint changes that entry's hash, and the
  signature cannot be redone without the key. The service writes one at every apel's end and once a
  day while the log grows; `apel audit checkpoint` writes one by hand.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from attendance import audit
from attendance.models import Assembly, AssemblyStatus, AttendanceRecord, AuditEntry
from attendance.reports.signing import Signer, fingerprint

SEAL_ACTION = "apel.records_sealed"
CHECKPOINT_ACTION = "audit.checkpoint"
SEAL_ACTOR = "system:seal"
# The record fields HR's figures and TPP deductions come from.
SEALED_FIELDS = ("employee_id", "office_id", "status", "tier", "late_minutes", "excuse_category",
                 "excuse_reason", "excuse_attachment", "first_seen_at", "corrected", "version")
_TOUCHED = "apel_touched_assemblies"


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return v


def records_digest(session: Session, assembly_id: int) -> tuple[str, int]:
    """SHA-256 over the apel's records (SEALED_FIELDS, ordered by employee), and how many there are."""
    # Columns, not entities: what the table holds now, never an object the session already had.
    rows = session.execute(select(*(getattr(AttendanceRecord, f) for f in SEALED_FIELDS))
                           .where(AttendanceRecord.assembly_id == assembly_id)
                           .order_by(AttendanceRecord.employee_id)).all()
    payload = [[_value(v) for v in row] for row in rows]
    blob = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest(), len(rows)


def seal_records(session: Session, assembly_id: int) -> AuditEntry:
    digest, n = records_digest(session, assembly_id)
    return audit.record(session, actor=SEAL_ACTOR, action=SEAL_ACTION, entity="assembly", entity_id=assembly_id,
                        after={"digest": digest, "records": n, "fields": list(SEALED_FIELDS)})


# -- the session hook ------------------------------------------------------------------------------
def _note_touched(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    touched: set[int] = session.info.setdefault(_TOUCHED, set())
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, AttendanceRecord) and obj.assembly_id is not None:
            touched.add(obj.assembly_id)
    for obj in session.dirty:   # dirty means "an attribute was set": only a real change counts
        if isinstance(obj, AttendanceRecord) and session.is_modified(obj, include_collections=False):
            touched.add(obj.assembly_id)
        elif isinstance(obj, Assembly) and inspect(obj).attrs.status.history.has_changes():
            touched.add(obj.id)   # the close seals what it closed


def _seal_touched(session: Session) -> None:
    touched: set[int] = session.info.pop(_TOUCHED, set())
    if not touched:
        return
    session.flush()   # what is still pending belongs in the digest
    touched |= session.info.pop(_TOUCHED, set())
    closed = session.execute(select(Assembly.id).where(
        Assembly.id.in_(sorted(touched)), Assembly.status == AssemblyStatus.closed.value)).scalars().all()
    for assembly_id in closed:
        seal_records(session, assembly_id)
    session.flush()
    session.info.pop(_TOUCHED, None)   # the seals' own flush touches nothing that needs sealing


def _forget(session: Session, *_: object) -> None:
    session.info.pop(_TOUCHED, None)


event.listen(Session, "before_flush", _note_touched)
event.listen(Session, "before_commit", _seal_touched)
event.listen(Session, "after_rollback", _forget)


# -- signed checkpoints ----------------------------------------------------------------------------
def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write_checkpoint(session: Session, signer: Signer, reason: str) -> AuditEntry | None:
    """Sign the log's tip as it is now; None when the tip is already a checkpoint (nothing new to cover)."""
    tip = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    if tip is None or tip.action == CHECKPOINT_ACTION:
        return None
    claim = {"entry_id": tip.id, "hash": tip.hash,
             "signed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "reason": reason}
    signature = signer.sign_claim(_canonical(claim))
    return audit.record(session, actor=SEAL_ACTOR, action=CHECKPOINT_ACTION, entity="audit_log",
                        entity_id=tip.id, after={**claim, "key_fingerprint": signer.fingerprint,
                                                 "public_key": signer.public_key_b64(),
                                                 "signature": signature}, reason=reason)


def last_checkpoint_at(session: Session) -> datetime | None:
    return session.execute(select(AuditEntry.at).where(AuditEntry.action == CHECKPOINT_ACTION)
                           .order_by(AuditEntry.id.desc()).limit(1)).scalar()


def entries_since_checkpoint(session: Session) -> int:
    last = session.execute(select(AuditEntry.id).where(AuditEntry.action == CHECKPOINT_ACTION)
                           .order_by(AuditEntry.id.desc()).limit(1)).scalar() or 0
    return len(session.execute(select(AuditEntry.id).where(AuditEntry.id > last)).scalars().all())


# -- verification ----------------------------------------------------------------------------------
@dataclass
class SealReport:
    problems: list[str] = field(default_factory=list)   # each one fails `apel audit verify`
    notes: list[str] = field(default_factory=list)      # worth knowing, not a failure
    checkpoints: int = 0
    sealed_apels: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_checkpoint(session: Session, entry: AuditEntry, trusted: dict[str, str]) -> str | None:
    after = entry.after or {}
    try:
        claim = {k: after[k] for k in ("entry_id", "hash", "signed_at", "reason")}
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(after["public_key"]))
        signature = base64.b64decode(after["signature"])
    except (KeyError, TypeError, ValueError):
        return f"checkpoint entry {entry.id} is malformed"
    if fingerprint(public) not in trusted or fingerprint(public) != after.get("key_fingerprint"):
        return f"checkpoint entry {entry.id} is signed by a key this installation does not trust"
    try:
        public.verify(signature, _canonical(claim))
    except InvalidSignature:
        return f"checkpoint entry {entry.id} was changed after it was signed (bad signature)"
    covered = session.get(AuditEntry, claim["entry_id"])
    if covered is None:
        return f"entry {claim['entry_id']}, signed by checkpoint {entry.id}, is no longer in the log"
    if covered.hash != claim["hash"]:
        return (f"entry {covered.id} differs from what checkpoint {entry.id} signed on {claim['signed_at']}: "
                f"the log before it was rewritten")
    return None


def verify_seals(session: Session, trusted: dict[str, str]) -> SealReport:
    """Signed checkpoints against the log, and each closed apel's records against its latest seal."""
    report = SealReport()
    for cp in session.execute(select(AuditEntry).where(AuditEntry.action == CHECKPOINT_ACTION)
                              .order_by(AuditEntry.id)).scalars():
        report.checkpoints += 1
        if (problem := _check_checkpoint(session, cp, trusted)) is not None:
            report.problems.append(problem)
    latest: dict[int, str] = {}
    for seal in session.execute(select(AuditEntry).where(AuditEntry.action == SEAL_ACTION)
                                .order_by(AuditEntry.id)).scalars():
        if seal.entity_id is not None and isinstance(seal.after, dict):
            latest[int(seal.entity_id)] = str(seal.after.get("digest"))
    closed = session.execute(select(Assembly.id).where(Assembly.status == AssemblyStatus.closed.value)
                             .order_by(Assembly.id)).scalars().all()
    unsealed: list[int] = []
    for assembly_id in closed:
        if assembly_id not in latest:
            unsealed.append(assembly_id)
            continue
        report.sealed_apels += 1
        digest, _ = records_digest(session, assembly_id)
        if digest != latest[assembly_id]:
            report.problems.append(f"apel {assembly_id}: its attendance records differ from the last sealed "
                                   f"state (changed outside Apel: no correction or review recorded it)")
    if unsealed:
        report.notes.append(f"{len(unsealed)} closed apel(s) without a records seal (closed before sealing "
                            f"existed): {_ids(unsealed)}")
    since = entries_since_checkpoint(session)
    if since:
        report.notes.append(f"{since} entries after the last signed checkpoint are covered by the chain only")
    return report


def _ids(ids: Iterable[int], limit: int = 10) -> str:
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def checkpoint_due(session: Session, *, now: datetime | None = None, max_age_s: float = 86400.0) -> str | None:
    """"daily" when the log has grown since the last checkpoint and that checkpoint (or, before the
    first one, the oldest entry not yet covered) is a day old; else None. Apel ends sign at once."""
    last = session.execute(select(AuditEntry).where(AuditEntry.action == CHECKPOINT_ACTION)
                           .order_by(AuditEntry.id.desc()).limit(1)).scalar()
    last_id = last.id if last is not None else 0
    oldest_new = session.execute(select(AuditEntry.at).where(AuditEntry.id > last_id)
                                 .order_by(AuditEntry.id).limit(1)).scalar()
    if oldest_new is None:
        return None
    since = last.at if last is not None else oldest_new
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return "daily" if ((now or datetime.now(UTC)) - since).total_seconds() >= max_age_s else None
