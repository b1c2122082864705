"""A take-over names the nodes gone (`Balance.gone_nodes`), for the new holder to clean up what they
left in the media server (Janus's RTP forwards): the node a lease lapsed from and every stopped or
silent node, never the taker nor a live node."""
from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from attendance.db.unit_of_work import committed
from attendance.nodes import leases as L

from .test_leases import bal, factory, node, open_apel  # noqa: F401  (factory: the fixture)


def test_a_take_over_names_the_nodes_gone_and_no_live_one(factory: sessionmaker[Session]) -> None:  # noqa: F811
    open_apel(factory, 3)
    a, b, c = node(factory, "gone-a"), node(factory, "gone-b"), node(factory, "gone-c")
    assert all(len(bal(factory, n, lease_s=0.9).held) == 1 for n in (a, b, c))
    with factory() as s:                            # C stops cleanly: it gives its lease back
        committed(L.stop_node)(s, c)
    freed = bal(factory, a, lease_s=0.9)            # A's share is 2 now: it takes C's free lease
    assert len(freed.acquired) == 1 and freed.gone_nodes == {c}
    assert bal(factory, a, lease_s=0.9).gone_nodes == frozenset()   # nothing taken: nobody named
    time.sleep(1.1)                                 # A dies (its leases lapse), and so do B's own
    d = node(factory, "gone-d")                     # a node just started: live, holding nothing yet
    took = bal(factory, b, lease_s=0.9)             # B takes its share, its own lapsed lease among them
    assert took.acquired and took.gone_nodes == {a, c}   # never B itself, nor the live D
    assert d not in took.gone_nodes
