"""HR answers in the review queue while an apel still runs: the running apel's consoles must see it.

The faces held in memory follow the queue whenever they are read (app.web.api.confirmations reads
the queue's answers with each list, so the office page and the console ask for a face again once
HR took its confirmation back, from any process); what is left is the roll-call, which the consoles
otherwise get only with the next sightings."""
from __future__ import annotations

from functools import partial

import anyio
from fastapi import FastAPI


def review_answer_changed(app: FastAPI, assembly_id: int) -> None:
    """Called from a request's worker thread after the queue's transaction committed: the apel's
    roll-call is published at once if this process hosts it live."""
    live = getattr(app.state, "live", None)
    if live is not None:
        anyio.from_thread.run_sync(partial(live.rollcalls.mark_due, assembly_id, now=True))
