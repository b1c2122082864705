"""Office leases: each (open apel, office) feed is analysed by exactly one vision node at a time.

A node registers itself, then on every heartbeat (`balance`, one transaction) it renews the leases
it holds, deletes those of ended apels, and takes free or lapsed ones up to its share (the feeds
divided among the live nodes, at most its capacity), or gives back what it holds beyond that share
so a node that just joined gets work. A node that dies stops renewing: its leases lapse after
`lease_s` and the others' next heartbeat takes them over. Capacity is per node (`fair_share`).

Why it is race-free: a lease changes hands only through a conditional UPDATE (`WHERE node_id IS
NULL OR expires_at < now`) whose row count says who won. On PostgreSQL the second of two concurrent
UPDATEs waits for the first and re-checks the condition on the row as the first left it, so exactly
one wins (candidates are read with FOR UPDATE SKIP LOCKED, so nodes do not queue on each other's
rows); SQLite serialises writers, which serves the single node. Every time comes from the
database's clock (`db_now`), so nodes on machines whose clocks differ agree on when a lease lapses.

Fencing: `holds` checks, in the transaction that writes a node's sightings, that the node still
holds that run (`epoch`) of the lease, and on PostgreSQL keeps the row share-locked until that
transaction ends, so a take-over waits for the write in flight and a node that lost its feed (paused
past its lease, cut off from the database) writes nothing more for it."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from attendance.errors import Invalid
from attendance.models import Assembly, AssemblyOffice, AssemblyStatus, OfficeLease, VisionNode, utcnow

LEASE_S = 5.0       # a lease lapses this long after its holder's last heartbeat
HEARTBEAT_S = 1.0   # a node renews and rebalances this often
# A dead node's offices are taken over after at most LEASE_S + HEARTBEAT_S (plus one transaction):
# 6 s, inside the 10 s the product promises, with room for the new holder's first frame.
FORGET_NODE_AFTER = timedelta(days=1)   # a node silent this long is deleted from vision_nodes


@dataclass(frozen=True)
class Lease:
    """One feed held by a node: `epoch` is the run (it grows at every take-over)."""

    assembly_id: int
    office_id: int
    epoch: int


@dataclass(frozen=True)
class Balance:
    """What one heartbeat left the node with and what it changed."""

    held: list[Lease]
    acquired: list[Lease]
    shed: list[Lease]
    share: int          # the feeds this node should hold now
    feeds: int          # feeds of open apels
    live_nodes: int
    # With `acquired` only: the nodes that hold no lease and may have left things behind for the new
    # holder to clean up (Janus's RTP forwards to a dead node): the lapsed holders of the leases taken
    # and every known node that is stopped or silent past a lease; never this node nor a live one.
    gone_nodes: frozenset[str] = frozenset()


def check_timing(lease_s: float, heartbeat_s: float) -> None:
    """A lease must survive a late heartbeat or two, or healthy nodes would lose their feeds."""
    if not (heartbeat_s > 0 and lease_s >= 3 * heartbeat_s):
        raise Invalid("invalid", f"the lease ({lease_s} s) must be at least three heartbeats ({heartbeat_s} s)")


def db_now(session: Session) -> datetime:
    """The database's clock (PostgreSQL's clock_timestamp(): the time now, not the transaction's start),
    or this machine's for SQLite (one machine)."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(select(func.clock_timestamp())).scalar_one()
        return cast(datetime, value)
    return utcnow()


def register_node(session: Session, node_id: str, *, hostname: str, pid: int, capacity: int) -> None:
    if capacity < 1:
        raise Invalid("invalid", "a node's capacity must be at least 1 office")
    now = db_now(session)
    session.add(VisionNode(id=node_id, hostname=hostname[:255], pid=pid, capacity=capacity,
                           started_at=now, heartbeat_at=now))
    session.flush()


def _held(session: Session, node_id: str, now: datetime) -> list[Lease]:
    rows = session.execute(select(OfficeLease.assembly_id, OfficeLease.office_id, OfficeLease.epoch)
                           .where(OfficeLease.node_id == node_id, OfficeLease.expires_at > now)
                           .order_by(OfficeLease.assembly_id, OfficeLease.office_id)).all()
    return [Lease(a, o, e) for a, o, e in rows]


def _open_apels() -> object:
    return select(Assembly.id).where(Assembly.status == AssemblyStatus.open.value)


def _ensure_rows(session: Session, now: datetime) -> None:
    """One (free) lease row per feed of an open apel. Two nodes adding the same row: the unique
    constraint keeps one (ON CONFLICT DO NOTHING on both databases)."""
    missing = session.execute(
        select(AssemblyOffice.assembly_id, AssemblyOffice.office_id)
        .join(Assembly, Assembly.id == AssemblyOffice.assembly_id)
        .outerjoin(OfficeLease, and_(OfficeLease.assembly_id == AssemblyOffice.assembly_id,
                                     OfficeLease.office_id == AssemblyOffice.office_id))
        .where(Assembly.status == AssemblyStatus.open.value, OfficeLease.id.is_(None))).all()
    if not missing:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        stmt = pg_insert(OfficeLease).on_conflict_do_nothing(constraint="uq_office_leases_assembly_office")
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        stmt = sqlite_insert(OfficeLease).on_conflict_do_nothing()   # type: ignore[assignment]
    session.execute(stmt, [{"assembly_id": a, "office_id": o, "node_id": None, "epoch": 0, "expires_at": now}
                           for a, o in missing])


def release_ended(session: Session) -> int:
    """Delete the leases of apels that are no longer open (any node may: the holder may be dead)."""
    done = session.execute(delete(OfficeLease).where(OfficeLease.assembly_id.not_in(_open_apels())))  # type: ignore[arg-type]
    return cast(CursorResult, done).rowcount or 0


def _take(session: Session, node_id: str, lease_id: int, now: datetime, lease_s: float) -> Lease | None:
    """The one way a lease changes hands: only while it is free or lapsed; the row count says who won."""
    row = session.execute(
        update(OfficeLease)
        .where(OfficeLease.id == lease_id, or_(OfficeLease.node_id.is_(None), OfficeLease.expires_at < now))
        .values(node_id=node_id, epoch=OfficeLease.epoch + 1, acquired_at=now, renewed_at=now,
                expires_at=now + timedelta(seconds=lease_s))
        .returning(OfficeLease.assembly_id, OfficeLease.office_id, OfficeLease.epoch)).one_or_none()
    return None if row is None else Lease(*row)


def _acquire(session: Session, node_id: str, *, limit: int, lease_s: float) -> list[tuple[Lease, str | None]]:
    """Take up to `limit` free or lapsed leases of open apels: each with the node it lapsed from (None:
    it was free). The row is locked from the read to the take, so that holder is the one replaced."""
    if limit <= 0:
        return []
    now = db_now(session)
    candidates = session.execute(
        select(OfficeLease.id, OfficeLease.node_id)
        .where(or_(OfficeLease.node_id.is_(None), OfficeLease.expires_at < now),
               OfficeLease.assembly_id.in_(_open_apels()))   # type: ignore[arg-type]
        .order_by(OfficeLease.assembly_id, OfficeLease.office_id)
        .limit(limit)
        .with_for_update(skip_locked=True)).all()
    won = [(_take(session, node_id, lease_id, now, lease_s), previous) for lease_id, previous in candidates]
    return [(lease, previous) for lease, previous in won if lease is not None]


def acquire(session: Session, node_id: str, *, limit: int, lease_s: float = LEASE_S) -> list[Lease]:
    """Take up to `limit` free or lapsed leases of open apels for `node_id`."""
    return [lease for lease, _ in _acquire(session, node_id, limit=limit, lease_s=lease_s)]


def _gone_nodes(session: Session, node_id: str, live: list[tuple[str, int]], lapsed_from: set[str]) -> frozenset[str]:
    """Nodes other than `node_id` and the `live` ones: the known ones (stopped, or silent past a lease)
    and those leases lapsed from."""
    known = set(session.execute(select(VisionNode.id)).scalars())
    return frozenset((known | lapsed_from) - {n for n, _ in live} - {node_id})


def release(session: Session, node_id: str, leases: list[Lease] | None = None) -> int:
    """Give leases back at once (free, not lapsed: another node takes them on its next heartbeat).
    `leases` None: all the node holds."""
    now = db_now(session)
    stmt = update(OfficeLease).where(OfficeLease.node_id == node_id).values(node_id=None, expires_at=now)
    if leases is not None:
        if not leases:
            return 0
        stmt = stmt.where(or_(*(and_(OfficeLease.assembly_id == lease.assembly_id,
                                     OfficeLease.office_id == lease.office_id,
                                     OfficeLease.epoch == lease.epoch) for lease in leases)))
    return cast(CursorResult, session.execute(stmt)).rowcount or 0


def stop_node(session: Session, node_id: str) -> int:
    """A clean stop: every lease given back, the node marked stopped (it no longer counts for shares)."""
    n = release(session, node_id)
    session.execute(update(VisionNode).where(VisionNode.id == node_id).values(stopped_at=db_now(session)))
    return n


def _live_nodes(session: Session, now: datetime, lease_s: float) -> list[tuple[str, int]]:
    """(id, capacity) of the nodes that heartbeat within a lease and did not stop."""
    rows = session.execute(select(VisionNode.id, VisionNode.capacity).where(
        VisionNode.stopped_at.is_(None), VisionNode.heartbeat_at > now - timedelta(seconds=lease_s))).all()
    return [(n, c) for n, c in rows]


def fair_share(feeds: int, nodes: list[tuple[str, int]], node_id: str) -> int:
    """`node_id`'s part of `feeds` among live `nodes` (id, capacity): filled smallest capacity first,
    each an equal part of what is left but never more than its capacity, so a small node's remainder
    goes to the bigger ones and every node computes the same split (ties by id). The parts add up
    to min(feeds, total capacity)."""
    remaining, left = feeds, len(nodes)
    for nid, cap in sorted(nodes, key=lambda n: (n[1], n[0])):
        part = min(cap, math.ceil(remaining / left))
        if nid == node_id:
            return part
        remaining, left = remaining - part, left - 1
    return 0


def balance(session: Session, node_id: str, *, capacity: int, lease_s: float = LEASE_S) -> Balance:
    """One heartbeat: renew what the node holds, clear ended apels, then take its share or give back
    what it holds beyond it. The node runs exactly `held` afterwards."""
    now = db_now(session)
    session.execute(update(VisionNode).where(VisionNode.id == node_id)
                    .values(heartbeat_at=now, stopped_at=None, capacity=capacity))
    session.execute(delete(VisionNode).where(VisionNode.heartbeat_at < now - FORGET_NODE_AFTER))
    session.execute(update(OfficeLease)
                    .where(OfficeLease.node_id == node_id, OfficeLease.expires_at > now)
                    .values(renewed_at=now, expires_at=now + timedelta(seconds=lease_s)))
    release_ended(session)
    _ensure_rows(session, now)
    feeds = session.execute(select(func.count()).select_from(OfficeLease)).scalar_one()
    live = _live_nodes(session, now, lease_s)
    if node_id not in {n for n, _ in live}:
        live.append((node_id, capacity))
    share = fair_share(feeds, live, node_id)
    held = _held(session, node_id, now)
    shed: list[Lease] = []
    acquired: list[Lease] = []
    gone: frozenset[str] = frozenset()
    if len(held) > share:
        shed = held[share:]
        release(session, node_id, shed)
        held = held[:share]
    elif len(held) < share:
        taken = _acquire(session, node_id, limit=share - len(held), lease_s=lease_s)
        acquired = [lease for lease, _ in taken]
        held = sorted([*held, *acquired], key=lambda x: (x.assembly_id, x.office_id))
        if taken:
            gone = _gone_nodes(session, node_id, live, {p for _, p in taken if p is not None})
    return Balance(held=held, acquired=acquired, shed=shed, share=share, feeds=feeds, live_nodes=len(live),
                   gone_nodes=gone)


def holds(session: Session, node_id: str, lease: Lease) -> bool:
    """Whether `node_id` still holds this run of the lease; on PostgreSQL the row stays share-locked
    until the caller's transaction ends, so a take-over waits for the caller's write (the fence)."""
    now = db_now(session)
    found = session.execute(
        select(OfficeLease.id).where(OfficeLease.assembly_id == lease.assembly_id,
                                     OfficeLease.office_id == lease.office_id, OfficeLease.node_id == node_id,
                                     OfficeLease.epoch == lease.epoch, OfficeLease.expires_at > now)
        .with_for_update(read=True)).scalar_one_or_none()
    return found is not None


def leases_of(session: Session, assembly_id: int) -> dict[int, tuple[str | None, int]]:
    """office id -> (holder or None, epoch), for the consoles and the tests."""
    now = db_now(session)
    rows = session.execute(select(OfficeLease.office_id, OfficeLease.node_id, OfficeLease.epoch,
                                  OfficeLease.expires_at).where(OfficeLease.assembly_id == assembly_id)).all()
    return {o: (n if n is not None and exp > now else None, e) for o, n, e, exp in rows}
