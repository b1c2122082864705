"""What the roll-call-across-nodes test and bench share: a PostgreSQL world (one office, its staff, a
leader, an open apel), a vision node's writing side on its own connection (the node's real record
path: registered node, leases balanced in PostgreSQL, NodeRunner.record behind the lease's fence,
NOTIFY at commit), and a console's SSE stream read the way the browser reads it."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from app.live.node import NodeRunner, NodeStream
from app.live.node_sources import make_source
from app.settings import Settings
from attendance.assemblies.lifecycle import create_assembly, start_assembly
from attendance.assemblies.sightings import Sighting
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import Employee, Office, User
from attendance.nodes.leases import balance, register_node

LEADER_PASSWORD = "leader-pass-123"


@dataclass
class World:
    assembly_id: int
    office_id: int
    office_code: str
    people: list[int]


def make_world(settings: Settings, people: int) -> World:
    """An office with `people` staff and an open apel scheduled 30 minutes ahead (everyone seen is
    present); a leader who may follow its roll-call."""
    from attendance.roster.passwords import hash_password

    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine)() as db:
            office = Office(code="OPD1", name="Dinas Satu", timezone="Asia/Makassar")
            leader = User(username="leader", password_hash=hash_password(LEADER_PASSWORD), role="leader")
            db.add_all([office, leader])
            db.flush()
            staff = [Employee(nip=f"19800101200501{n + 1:04d}", name=f"Pegawai {n + 1}", office_id=office.id)
                     for n in range(people)]
            db.add_all(staff)
            db.commit()
            a = committed(create_assembly)(db, actor=leader, kind="pagi", title="Apel pagi",
                                           scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                           office_ids=[office.id], ruleset_name="default")
            committed(start_assembly)(db, a.id, actor=leader)
            return World(a.id, office.id, office.code, [e.id for e in staff])
    finally:
        engine.dispose()


class NodeWriter:
    """A vision node's writing side, in this process on its own database connection: it registers,
    takes the office's lease as a node's heartbeat does, and writes sightings through the node's own
    record path (the lease's fence, record_sightings, NOTIFY at commit)."""

    def __init__(self, settings: Settings, world: World, lease_s: float = 300.0) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)   # the (never opened) clips' folder
        self.engine = make_engine(settings.db_url)
        self.factory = make_session_factory(self.engine)
        self.world = world
        self.runner = NodeRunner(settings, self.factory, make_source(f"file:{settings.data_dir}/{{office}}.mp4"),
                                 node_id="testnode")
        with self.factory() as s:
            committed(register_node)(s, self.runner.id, hostname="test", pid=0, capacity=10)
            held = committed(balance)(s, self.runner.id, capacity=10, lease_s=lease_s).held
        lease = next(x for x in held if x.office_id == world.office_id)
        self.info = NodeStream(f"{world.assembly_id}/{world.office_code}", world.assembly_id, world.office_id, 0,
                               world.office_code, track_prefix=f"{self.runner.id}-{world.office_id}-{lease.epoch}",
                               names={}, joined_at=time.monotonic(), lease_epoch=lease.epoch)

    def see(self, employee_id: int, frames: int = 4) -> float:
        """`frames` confident sightings of one person (one track) in one batch; returns the wall time
        just after the commit."""
        now = datetime.now(UTC)
        batch = [Sighting(employee_id=employee_id, track_key=f"{self.info.track_prefix}-{employee_id}",
                          at=now - timedelta(seconds=frames - i), confidence=0.95, mask=False,
                          distancing_violation=False) for i in range(frames)]
        with self.factory() as s:
            result = self.runner.record(s, self.info, batch)
        assert result is not None, "the node's lease fence refused the batch"
        return time.time()

    def close(self) -> None:
        self.runner.db.close()
        self.engine.dispose()


class SseWatcher:
    """Reads the console's event stream in a thread of its own (an asyncio loop, so closing cancels the
    read at once); records, per employee, when the roll-call first showed them present (wall time)."""

    def __init__(self, url: str, assembly_id: int, token: str) -> None:
        self.url = f"{url}/api/v1/live/assemblies/{assembly_id}/events"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.present_at: dict[int, float] = {}
        self.rollcalls = 0
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),),
                                        name="test-sse", daemon=True)
        self._thread.start()
        assert self._opened.wait(30), f"the event stream did not open: {self.error!r}"

    async def _main(self) -> None:
        self._task = asyncio.current_task()
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as http, \
                    http.stream("GET", self.url, headers=self.headers) as r:
                r.raise_for_status()
                self._opened.set()
                event = None
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "rollcall":
                        at = time.time()
                        self.rollcalls += 1
                        for office in json.loads(line[6:])["offices"]:
                            for p in office.get("people", []):
                                if p.get("status") in ("present", "late"):
                                    self.present_at.setdefault(int(p["employee_id"]), at)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self.error = exc
            self._opened.set()

    def wait_present(self, employee_id: int, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if employee_id in self.present_at:
                return self.present_at[employee_id]
            time.sleep(0.005)
        return None

    def close(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)
        alive = self._thread.is_alive()
        if not alive:
            self._loop.close()
        assert not alive, "the event stream reader did not end"


def leader_token(url: str) -> str:
    r = httpx.post(f"{url}/api/v1/auth/login", json={"username": "leader", "password": LEADER_PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


def listen_connections(settings: Settings) -> int:
    """Backends of this database that a web node's LISTEN holds (pg_stat_activity)."""
    from sqlalchemy import text

    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND application_name = 'apel-web-listen'")).scalar_one())
    finally:
        engine.dispose()


def terminate(settings: Settings, pid: int) -> bool:
    from sqlalchemy import text

    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as c:
            return bool(c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one())
    finally:
        engine.dispose()

