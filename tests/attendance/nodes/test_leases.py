"""Office leases on the real databases: one holder per feed, fair shares, take-over after a lapse,
release on a clean stop and at the apel's end; on PostgreSQL, concurrent nodes racing for the same
feeds (threads, each its own connection) and the fence that keeps a take-over from overlapping a
write in flight."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from attendance.assemblies.lifecycle import create_assembly, end_assembly, start_assembly
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.errors import Invalid
from attendance.models import Base, Office, OfficeLease, User
from attendance.nodes import leases as L
from tests.conftest import fresh_pg

MY_TABLES = {"vision_nodes", "office_leases"}


def open_apel(factory: sessionmaker[Session], offices: int) -> tuple[int, list[int]]:
    with factory() as s:
        tag = time.monotonic_ns() % 10**6
        os_ = [Office(code=f"O{tag}-{i + 1}", name=f"Dinas {i + 1}", timezone="Asia/Makassar") for i in range(offices)]
        leader = User(username=f"leader{time.monotonic_ns()}", password_hash="-", role="leader")
        s.add_all([*os_, leader])
        s.commit()
        a = committed(create_assembly)(s, actor=leader, kind="pagi", title="Apel pagi",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=[o.id for o in os_])
        committed(start_assembly)(s, a.id, actor=leader)
        return a.id, [o.id for o in os_]


def end_apel(factory: sessionmaker[Session], assembly_id: int) -> None:
    with factory() as s:
        leader = s.execute(select(User).where(User.role == "leader")).scalars().first()
        committed(end_assembly)(s, assembly_id, actor=leader)


def node(factory: sessionmaker[Session], node_id: str, capacity: int = 10) -> str:
    with factory() as s:
        committed(L.register_node)(s, node_id, hostname="test", pid=1, capacity=capacity)
    return node_id


def bal(factory: sessionmaker[Session], node_id: str, capacity: int = 10, lease_s: float = L.LEASE_S) -> L.Balance:
    with factory() as s:
        return committed(L.balance)(s, node_id, capacity=capacity, lease_s=lease_s)


def holders(factory: sessionmaker[Session], assembly_id: int) -> dict[int, tuple[str | None, int]]:
    with factory() as s:
        return L.leases_of(s, assembly_id)


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def test_models_match_migration(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diff if any(t in repr(d) for t in MY_TABLES)]
    assert mine == []


def test_one_node_takes_every_feed_and_renews(factory: sessionmaker[Session]) -> None:
    apel, offices = open_apel(factory, 4)
    a = node(factory, "node-a")
    b1 = bal(factory, a)
    assert [(x.assembly_id, x.office_id, x.epoch) for x in b1.held] == [(apel, o, 1) for o in offices]
    assert (b1.feeds, b1.live_nodes, b1.share) == (4, 1, 4)
    b2 = bal(factory, a)   # renewing keeps the same run
    assert b2.held == b1.held and b2.acquired == []
    assert holders(factory, apel) == {o: ("node-a", 1) for o in offices}


def test_capacity_and_fair_share(factory: sessionmaker[Session]) -> None:
    apel, offices = open_apel(factory, 5)
    a = node(factory, "node-a")
    assert len(bal(factory, a).held) == 5
    b = node(factory, "node-b", capacity=2)
    # B sees a share of ceil(5/2) = 3, capped at its capacity 2, but everything is held: it waits
    assert bal(factory, b, capacity=2).held == []
    shed = bal(factory, a)          # A now keeps its share, 3, and gives 2 back at once
    assert len(shed.held) == 3 and len(shed.shed) == 2
    got = bal(factory, b, capacity=2)
    assert len(got.held) == 2 and got.acquired == got.held
    owners = Counter(n for n, _ in holders(factory, apel).values())
    assert owners == {"node-a": 3, "node-b": 2}
    assert bal(factory, a).shed == [] and bal(factory, b, capacity=2).acquired == []   # stable


def test_fair_share_fills_small_nodes_first() -> None:
    assert [L.fair_share(12, [("a", 10), ("b", 2)], n) for n in "ab"] == [10, 2]   # none left over
    assert [L.fair_share(5, [("b", 10), ("a", 10)], n) for n in "ab"] == [3, 2]    # same split on every node
    assert [L.fair_share(30, [("a", 10), ("b", 10)], n) for n in "ab"] == [10, 10]  # capacity caps it
    assert [L.fair_share(3, [("a", 1), ("b", 5), ("c", 5)], n) for n in "abc"] == [1, 1, 1]
    assert L.fair_share(0, [("a", 10)], "a") == 0


def test_lapsed_lease_is_taken_over_and_fenced(factory: sessionmaker[Session]) -> None:
    apel, offices = open_apel(factory, 3)
    a, b = node(factory, "node-a"), node(factory, "node-b")
    first = bal(factory, a, lease_s=0.6)
    assert len(first.held) == 2                       # its share of 3 among 2 live nodes
    assert len(bal(factory, b, lease_s=0.6).held) == 1
    old = first.held[0]
    with factory() as s:
        assert L.holds(s, a, old)
    time.sleep(0.8)                                   # A stops heartbeating: its leases lapse
    took = bal(factory, b, lease_s=0.6)               # A no longer counts as live: B's share is 3
    assert len(took.held) == 3 and len(took.acquired) == 3
    assert {(x.office_id, x.epoch) for x in took.acquired} >= {(x.office_id, x.epoch + 1) for x in first.held}
    with factory() as s:
        assert not L.holds(s, a, old)                 # A's writes for that run are refused now
    back = bal(factory, a, lease_s=0.6)               # A comes back: it holds nothing it lost
    assert back.held == [] and holders(factory, apel) == {o: ("node-b", e) for o, (_, e) in
                                                          holders(factory, apel).items()}


def test_clean_stop_gives_leases_back_at_once(factory: sessionmaker[Session]) -> None:
    apel, offices = open_apel(factory, 2)
    a = node(factory, "node-a")
    bal(factory, a)
    b = node(factory, "node-b")
    with factory() as s:
        assert committed(L.stop_node)(s, a) == 2
    assert all(n is None for n, _ in holders(factory, apel).values())
    got = bal(factory, b)                             # no waiting for a lapse; A no longer counts
    assert (len(got.held), got.live_nodes) == (2, 1)


def test_apel_end_releases_its_leases(factory: sessionmaker[Session]) -> None:
    apel, offices = open_apel(factory, 2)
    other, _ = open_apel(factory, 1)
    a = node(factory, "node-a")
    assert len(bal(factory, a).held) == 3
    end_apel(factory, apel)
    after = bal(factory, a)
    assert [x.assembly_id for x in after.held] == [other]
    assert holders(factory, apel) == {}               # its rows are gone


def test_bad_timing_refused() -> None:
    with pytest.raises(Invalid):
        L.check_timing(2.0, 1.0)
    L.check_timing(5.0, 1.0)


# -- PostgreSQL: real concurrency, each thread its own connection

@pytest.fixture
def pg_factory(pg_template: str):
    for url in fresh_pg(pg_template):
        engine = make_engine(url, pool_size=20)
        yield make_session_factory(engine)
        engine.dispose()


def _race(factory: sessionmaker[Session], nodes: list[str], fn) -> dict[str, list[L.Lease]]:
    barrier = threading.Barrier(len(nodes))
    out: dict[str, list[L.Lease]] = {}
    errors: list[BaseException] = []

    def go(n: str) -> None:
        try:
            with factory() as s:
                s.execute(select(1))   # connected before the barrier: the race is the statements'
                barrier.wait(10)
                out[n] = committed(fn)(s, n)
        except BaseException as exc:
            errors.append(exc)
    threads = [threading.Thread(target=go, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return out


@pytest.mark.postgres
def test_race_for_one_feed_has_one_winner(pg_factory: sessionmaker[Session]) -> None:
    apel, (office,) = open_apel(pg_factory, 1)
    nodes = [node(pg_factory, f"n{i}") for i in range(8)]
    with pg_factory() as s:                           # the rows exist before the races
        committed(L.balance)(s, nodes[0], capacity=1)
        committed(L.release)(s, nodes[0])
    for round_ in range(15):
        if round_ % 2:   # odd rounds: a lapsed lease (its holder dead) instead of a free one
            with pg_factory() as s:
                lapsed = datetime.now(UTC) - timedelta(seconds=1)
                s.execute(update(OfficeLease).values(node_id="dead", expires_at=lapsed))
                s.commit()
        won = _race(pg_factory, nodes, lambda s, n: L.acquire(s, n, limit=1))
        winners = [n for n, got in won.items() if got]
        assert len(winners) == 1, (round_, won)
        assert holders(pg_factory, apel)[office][0] == winners[0]
        with pg_factory() as s:
            committed(L.release)(s, winners[0])


@pytest.mark.postgres
def test_racing_balances_share_without_overlap(pg_factory: sessionmaker[Session]) -> None:
    apel, offices = open_apel(pg_factory, 12)
    nodes = [node(pg_factory, f"n{i}") for i in range(4)]
    for _ in range(3):   # rows made, shares taken, rebalanced: all at once every time
        got = _race(pg_factory, nodes, lambda s, n: L.balance(s, n, capacity=10))
    held = [(x.assembly_id, x.office_id) for b in got.values() for x in b.held]
    assert len(held) == len(set(held)) == 12            # every feed held, by one node
    assert Counter(len(b.held) for b in got.values()) == {3: 4}
    assert set(holders(pg_factory, apel)) == set(offices)


@pytest.mark.postgres
def test_takeover_waits_for_the_write_in_flight(pg_factory: sessionmaker[Session]) -> None:
    """The writer's fence share-locks the lease: a take-over of the lapsed lease cannot happen while
    the old holder's write is open, and happens once it ends."""
    apel, (office,) = open_apel(pg_factory, 1)
    a, b = node(pg_factory, "node-a"), node(pg_factory, "node-b")
    (lease,) = committed(L.balance)(pg_factory(), a, capacity=1, lease_s=0.5).held
    writer = pg_factory()
    assert L.holds(writer, a, lease)                  # the write's transaction is open from here
    time.sleep(0.7)                                   # ... past the lease
    with pg_factory() as s:
        assert committed(L.acquire)(s, b, limit=1) == []   # skipped while locked: no overlap
    writer.commit()
    writer.close()
    with pg_factory() as s:
        got = committed(L.acquire)(s, b, limit=1)
    assert [(x.office_id, x.epoch) for x in got] == [(office, lease.epoch + 1)]
    with pg_factory() as s:
        assert not L.holds(s, a, lease)
