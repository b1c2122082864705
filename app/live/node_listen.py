"""The web node hears the vision nodes: a PostgreSQL LISTEN on the channel a node's sightings
transaction NOTIFYs at commit (SIGHTINGS_CHANNEL, payload the apel's id), so the
leader's roll-call follows sightings written by other processes and machines (docs/nodes.md). And a
vision node hears the web node (`listen_for_publishers`, PUBLISHERS_CHANNEL): an office
just joined Janus's room, so the node holding it opens its forward at once rather than at its next look.

One dedicated connection (asyncio psycopg, never a pooled one: a LISTEN belongs to its session and
must not be handed to a request), outside the SQLAlchemy pool. The connection can drop (a database
restart, a failover, an admin's pg_terminate_backend, a cut network): the listener reconnects with
backoff, and after each reconnect refreshes every apel it was told about, because notifications sent
while nobody listened are lost. A silent network cut is found by a small query every HEALTH_S: the
clean-up of the consoles' views the nodes wrote (app.live.node_views.SWEEP_SQL: the rows of apels no
longer open and those nobody refreshed for a minute, pictures of people kept no longer than needed),
so a node that died leaves nothing behind for long."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import psycopg
from sqlalchemy.engine import make_url

from app.live.events import EventHub, RollcallPublisher
from app.live.node_views import SWEEP_SQL

log = logging.getLogger("apel.live")

SIGHTINGS_CHANNEL = "apel_sightings"   # PostgreSQL NOTIFY channel: payload the apel's id
PUBLISHERS_CHANNEL = "apel_publishers"   # NOTIFY: "<apel id> <office id> <video mid>", an office just published

HEALTH_S = 10.0          # no notification for this long: a query checks the connection is alive
CONNECT_TIMEOUT_S = 5
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0


def libpq_dsn(sqlalchemy_url: str) -> str | None:
    """The psycopg connection string of a SQLAlchemy URL; None when the database is not PostgreSQL
    (SQLite has no LISTEN, and one machine needs none: it writes its own sightings)."""
    url = make_url(sqlalchemy_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _apel_id(payload: str) -> int | None:
    try:
        return int(payload)
    except ValueError:
        return None


class Published(NamedTuple):
    """A PUBLISHERS_CHANNEL notification: an office of an apel publishes its video (stream `video_mid`)."""
    assembly_id: int
    office_id: int
    video_mid: str


def parse_published(payload: str) -> Published | None:
    parts = payload.split(" ")
    if len(parts) != 3 or not parts[2]:
        return None
    try:
        return Published(int(parts[0]), int(parts[1]), parts[2])
    except ValueError:
        return None


class NotifyListener:
    """LISTENs on the sightings channel and calls `on_apel(apel id)` on the event loop for every
    notification; `on_reconnect()` after a reconnection (what was missed meanwhile is unknown).
    `channel` and `parse` make it listen on another channel (`listen_for_publishers`): `parse` turns a
    payload into what `on_apel` is called with (None: ignored)."""

    def __init__(self, dsn: str, on_apel: Callable[[Any], None], on_reconnect: Callable[[], None],
                 sweep_sql: str | None = None, *, channel: str = SIGHTINGS_CHANNEL,
                 parse: Callable[[str], object | None] | None = None,
                 application_name: str = "apel-web-listen") -> None:
        """`sweep_sql`: run at the start and every HEALTH_S instead of the bare health query."""
        self._dsn = dsn
        self._sweep_sql = sweep_sql
        self.swept = 0   # rows the sweeps deleted
        self._on_apel = on_apel
        self._on_reconnect = on_reconnect
        self.channel = channel
        self._parse = parse or _apel_id
        self._application_name = application_name
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection | None = None
        self.listening = asyncio.Event()   # set while a LISTEN is in place
        self.backend_pid: int | None = None
        self.connects = 0
        self.notifications = 0

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Ends the task and closes its connection (nothing of it outlives the service)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.listening.clear()
        self.backend_pid = None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                pass

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        while True:
            connects = self.connects
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if self.connects > connects:
                    delay = BACKOFF_MIN_S   # it was listening: a drop, not a database that stays down
                log.warning("%s: the LISTEN connection failed (%s); retrying in %.1f s", self.channel, why, delay)
            await self._close()
            await asyncio.sleep(delay)
            delay = min(BACKOFF_MAX_S, delay * 2)

    def _notified(self, n: psycopg.Notify) -> None:
        what = self._parse(n.payload)
        if what is None:
            log.warning("%s: ignored a notification with payload %r", self.channel, n.payload[:40])
            return
        self.notifications += 1
        self._on_apel(what)

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                                     application_name=self._application_name)
        self._conn = conn
        await conn.execute(f"LISTEN {self.channel}")
        self.backend_pid = conn.info.backend_pid
        await self._sweep(conn)
        self.connects += 1
        self.listening.set()
        if self.connects > 1:
            log.info("%s: listening again (connection %d)", self.channel, self.connects)
            self._on_reconnect()
        else:
            log.info("listening on %s", self.channel)
        while True:
            # Recent psycopg (3.3) keeps what arrives between two calls (during the health query) for the
            # next; an older one may lose that one: the apel's next sightings refresh it again.
            async for n in conn.notifies(timeout=HEALTH_S):
                self._notified(n)
            # raises when the connection is gone; a cut network that never answers is given up on
            await asyncio.wait_for(self._sweep(conn), CONNECT_TIMEOUT_S)

    async def _sweep(self, conn: psycopg.AsyncConnection) -> None:
        """The sweep (or a bare query): an SQL error of the sweep is logged, a lost connection raises."""
        if self._sweep_sql is None:
            await conn.execute("SELECT 1")
            return
        try:
            cur = await conn.execute(self._sweep_sql)
        except psycopg.OperationalError:
            raise
        except psycopg.DatabaseError as exc:   # e.g. a schema older than this code's: the listening goes on
            log.warning("deleting the consoles' views of ended apels failed: %s", str(exc).strip()[:200])
            return
        self.swept += max(cur.rowcount, 0)


SightingsListener = NotifyListener   # the web node's, on the sightings channel (its first use)


def listen_for_nodes(db_url: str, publisher: RollcallPublisher, hub: EventHub) -> SightingsListener | None:
    """Started with the live service on PostgreSQL: a node's sightings poke its apel's roll-call through
    the throttled publisher; after a reconnect every followed apel's roll-call is refreshed; every
    HEALTH_S the views of the nodes' offices that are not needed any more are deleted."""
    dsn = libpq_dsn(db_url)
    if dsn is None:
        return None

    def caught_up() -> None:
        for assembly_id in hub.watched():
            publisher.poke(assembly_id)

    listener = SightingsListener(dsn, publisher.poke, caught_up, SWEEP_SQL)
    listener.start()
    return listener


def listen_for_publishers(db_url: str, on_published: Callable[[Published], None]) -> NotifyListener | None:
    """A vision node on PostgreSQL hears the web node say that an office publishes (app.live.node
    .notify_publishing) and opens its forward at once; what it misses (a reconnection) it finds by its
    own look at the room, as without a listener."""
    dsn = libpq_dsn(db_url)
    if dsn is None:
        return None
    listener = NotifyListener(dsn, on_published, lambda: None, channel=PUBLISHERS_CHANNEL,
                                 parse=parse_published, application_name="apel-node-listen")
    listener.start()
    return listener
