"""Roll-call across nodes: how long from a vision node's commit of sightings to the leader console's
SSE roll-call showing the person present, with the web node LISTENing on PostgreSQL (NOTIFY at the
node's commit, app/live/node_listen.py) against polling every --poll-s seconds (the alternative:
refresh every followed apel's roll-call on a timer), in the same run.

Real parts: PostgreSQL (a fresh database per mode, migrated), the in-process app under uvicorn
(tests.servers.ServerThread: its lifespan and live service), the console's event stream read over
HTTP, and the node's own record path (NodeRunner.record behind the lease's fence, on its own
connection). One person per trial, trials spaced by a random 1.2-2.0 s (past the publisher's
per-apel throttle, and out of step with the poll timer).

    .venv/bin/python bench/bench_rollcall_nodes.py [--trials 20] [--poll-s 1.0] [--json out.json]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Poller:
    """The polling alternative, in the listener's place: every `every` s each followed apel's
    roll-call is refreshed through the same throttled publisher."""

    def __init__(self, publisher: Any, hub: Any, every: float) -> None:
        self.backend_pid = None
        self._publisher, self._hub, self._every = publisher, hub, every
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            for assembly_id in self._hub.watched():
                self._publisher.poke(assembly_id)

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def run_mode(mode: str, trials: int, poll_s: float, workdir: Path) -> dict[str, Any]:
    from app.settings import Settings
    from app.web.app import create_app
    from attendance.db.migrate import upgrade
    from tests.app.live.node_rollcall import NodeWriter, SseWatcher, leader_token, make_world
    from tests.conftest import fresh_pg
    from tests.servers import ServerThread

    swap = contextlib.ExitStack()
    if mode == "poll":   # the service starts the poller where it would start the listener
        swap.enter_context(mock.patch("app.live.service.listen_for_nodes",
                                      lambda db_url, publisher, hub: Poller(publisher, hub, poll_s)))
    gen = fresh_pg(None)
    url = next(gen)
    try:
        upgrade(url)
        settings = Settings(data_dir=workdir / mode, database_url=url, secret_key="bench-secret",
                            keep_evidence=False, vision_workers=1)
        world = make_world(settings, people=trials)
        node = NodeWriter(settings, world)
        server = ServerThread(create_app(settings))
        server.start()
        watcher = None
        lags: list[float] = []
        missed = 0
        try:
            watcher = SseWatcher(server.url, world.assembly_id, leader_token(server.url))
            deadline = time.monotonic() + 30
            while mode == "notify" and time.monotonic() < deadline:
                live = getattr(server.app.state, "live", None)
                if live is not None and live.node_listener is not None and live.node_listener.backend_pid:
                    break
                time.sleep(0.05)
            time.sleep(2.0)   # the service settles (its vision worker loads)
            rng = random.Random(20)
            for employee_id in world.people:
                committed = node.see(employee_id)
                shown = watcher.wait_present(employee_id, 10.0)
                if shown is None:
                    missed += 1
                else:
                    lags.append(shown - committed)
                time.sleep(rng.uniform(1.2, 2.0))
            rollcalls = watcher.rollcalls
        finally:
            try:
                if watcher is not None:
                    watcher.close()
            finally:
                server.stop()
                node.close()
    finally:
        swap.close()
        try:
            next(gen)
        except StopIteration:
            pass
    lags.sort()
    return {"mode": mode, "trials": trials, "missed": missed, "rollcall_events": rollcalls,
            "p50_s": round(statistics.median(lags), 4) if lags else None,
            "p90_s": round(lags[int(0.9 * (len(lags) - 1))], 4) if lags else None,
            "max_s": round(lags[-1], 4) if lags else None, "min_s": round(lags[0], 4) if lags else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--poll-s", type=float, default=1.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="apel-bench-rollcall-") as tmp:
        results = [run_mode(mode, args.trials, args.poll_s, Path(tmp)) for mode in ("notify", "poll")]
    for r in results:
        label = "LISTEN/NOTIFY" if r["mode"] == "notify" else f"polling every {args.poll_s:g} s"
        print(f"{label:>22}: commit -> SSE roll-call p50 {r['p50_s']} s, p90 {r['p90_s']} s, "
              f"min {r['min_s']} s, max {r['max_s']} s ({r['trials']} trials, {r['missed']} missed, "
              f"{r['rollcall_events']} roll-call events)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
