"""The web node's roll-call follows sightings a vision node writes (issue 20): a real `apel serve` app
(uvicorn, its lifespan) on a fresh PostgreSQL database LISTENs on the sightings channel; a node's
record path on another connection writes and NOTIFYs at commit; the console's event stream (SSE)
shows the person present within seconds. The LISTEN connection survives being killed
(pg_terminate_backend) and ends with the server."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from app.settings import Settings
from app.web.app import create_app
from tests.servers import ServerThread

from .node_rollcall import NodeWriter, SseWatcher, World, leader_token, listen_connections, make_world, terminate

SHOWN_WITHIN_S = 3.0

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(pg_url: str, settings_factory) -> Settings:
    return settings_factory(pg_url, keep_evidence=False, vision_workers=1)


@dataclass
class Rig:
    world: World
    node: NodeWriter
    server: ServerThread
    watcher: SseWatcher
    listen_pid: int   # the web node's LISTEN backend


@contextmanager
def web_node_and_vision_node(settings: Settings) -> Iterator[Rig]:
    """A running `apel serve` app following the apel's roll-call (a console's event stream, which starts
    the live service and its LISTEN), and a vision node's writing side on another connection; all of it
    stopped on the way out, so a test can check what stopping leaves behind."""
    world = make_world(settings, people=2)
    node = NodeWriter(settings, world)
    server = ServerThread(create_app(settings))
    watcher = None
    try:
        server.start()
        try:
            watcher = SseWatcher(server.url, world.assembly_id, leader_token(server.url))
            yield Rig(world, node, server, watcher, _listening(server))
        finally:
            try:
                if watcher is not None:
                    watcher.close()
            finally:
                server.stop()
    finally:
        node.close()


def _listening(server: ServerThread, timeout: float = 10.0, *, not_pid: int | None = None) -> int:
    """The live service's LISTEN backend pid, once it listens (another pid than `not_pid`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = getattr(server.app.state, "live", None)
        listener = live.node_listener if live is not None else None
        pid = listener.backend_pid if listener is not None else None
        if pid is not None and pid != not_pid:
            return int(pid)
        time.sleep(0.05)
    raise AssertionError("the web node is not listening on the sightings channel")


def test_node_sightings_reach_the_console(settings: Settings) -> None:
    with web_node_and_vision_node(settings) as rig:
        first, second = rig.world.people
        committed_at = rig.node.see(first)
        shown = rig.watcher.wait_present(first, SHOWN_WITHIN_S)
        assert shown is not None, f"the console did not show the node's sighting within {SHOWN_WITHIN_S} s"
        assert second not in rig.watcher.present_at   # only whom the node saw
        assert shown - committed_at < SHOWN_WITHIN_S


def test_listener_survives_a_dropped_connection_and_stops_with_the_server(settings: Settings) -> None:
    with web_node_and_vision_node(settings) as rig:
        pid = rig.listen_pid
        assert listen_connections(settings) == 1
        assert terminate(settings, pid)   # as a database restart or an admin would
        new_pid = _listening(rig.server, not_pid=pid)   # reconnected (backoff starts at half a second)
        assert new_pid != pid and listen_connections(settings) == 1
        first = rig.world.people[0]
        rig.node.see(first)
        assert rig.watcher.wait_present(first, SHOWN_WITHIN_S) is not None, "the reconnected listener missed the node"
        listener = rig.server.app.state.live.node_listener
    assert listener._task is None and listener.backend_pid is None
    deadline = time.monotonic() + 5
    while listen_connections(settings) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listen_connections(settings) == 0, "the LISTEN connection outlived the server"
