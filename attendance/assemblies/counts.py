"""The apel's distancing alerts and mask compliance, counted one way wherever they are shown: the
leader console and the apel page (live_rollcall), the laporan apel and its documents (apel_report),
and `apel analyze` (from the pipeline's frames, without a database). Before, each place summed
something else (frames of every track, records, tracks of one person twice) and the same apel
showed different figures. The definitions (docs/reports.md, "Counts"):

- A distancing alert is one episode of a pair of people standing too close (the vision pipeline
  decides it: sure and sustained, see attendance/vision/geometry/alerts.py). The pipeline marks the
  episode's first frame on both faces of the pair, so each episode adds one to each of its two
  tracks' `distancing_alerts`, and an office's count is half the sum over its tracks (known and
  unknown faces alike: an unknown person standing too close is still an alert). A person's own
  figure (a record's `distancing_alerts`) is the episodes they were in.
- Mask compliance is the share of people, not frames, seen masked: of the people named in the
  apel whose mask state was seen, those masked in at least half of those frames. Unknown faces are
  left out: one person can be several unknown tracks, and they are counted apart (unknown faces)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from attendance.models import AttendanceRecord, SightingTrack
from attendance.vision.types import FrameResult

# A person counts as masked when masked in at least MASKED_NUM / MASKED_DEN of their frames with a
# known mask state (whole numbers, so the database compares integers exactly as Python does).
MASKED_NUM, MASKED_DEN = 1, 2


def is_masked(mask_frames: int, mask_total: int) -> bool | None:
    """None when the person's mask state was never seen."""
    if mask_total <= 0:
        return None
    return mask_frames * MASKED_DEN >= mask_total * MASKED_NUM


def masked_sql(mask_frames: Any, mask_total: Any) -> Any:
    """`is_masked` as an SQL condition on two integer columns (true only for a seen, masked person)."""
    return and_(mask_total > 0, mask_frames * MASKED_DEN >= mask_total * MASKED_NUM)


def alert_marks(result: FrameResult) -> dict[int, int]:
    """Per face of the frame (index), the alert episodes that began in this frame with it: both
    faces of a new episode are marked, so each episode adds one to each of its two tracks."""
    out: dict[int, int] = {}
    for al in result.alerts:
        if al.new:
            out[al.a] = out.get(al.a, 0) + 1
            out[al.b] = out.get(al.b, 0) + 1
    return out


def alert_episodes(track_alerts_sum: int) -> int:
    """Episodes from the sum of tracks' alert marks (each episode marks both of its tracks)."""
    return int(track_alerts_sum) // 2


@dataclass(frozen=True)
class ApelCounts:
    distancing_alerts: int = 0
    mask_known: int = 0     # people whose mask state was seen
    masked: int = 0         # of those, masked by `is_masked`

    @property
    def mask_compliance(self) -> float | None:
        return None if self.mask_known == 0 else self.masked / self.mask_known


def percent(share: float | None) -> int | None:
    """A share as the whole percent every page shows (Python's "%.0f", as the templates format it),
    so the console, computed in the browser, cannot round 62.5% the other way."""
    return None if share is None else int(f"{share * 100:.0f}")


def counts_from_tallies(people: Iterable[tuple[int, int]], track_alerts: Iterable[int]) -> ApelCounts:
    """From plain tallies: per named person (mask_frames, mask_total), and per track the alert
    episodes it was in (what `apel analyze` has in memory)."""
    seen = [m for m in (is_masked(f, t) for f, t in people) if m is not None]
    return ApelCounts(distancing_alerts=alert_episodes(sum(track_alerts)), mask_known=len(seen), masked=sum(seen))


def office_counts(session: Session, assembly_id: int, office_ids: Sequence[int]) -> dict[int, ApelCounts]:
    """Per office of the apel, from its records (people) and its tracks (alerts): two grouped
    queries, whatever the number of people. An office with nothing recorded has zero counts."""
    if not office_ids:
        return {}
    R, T = AttendanceRecord, SightingTrack
    masks = {row.office_id: row for row in session.execute(
        select(R.office_id.label("office_id"),
               func.sum(case((R.mask_total > 0, 1), else_=0)).label("known"),
               func.sum(case((masked_sql(R.mask_frames, R.mask_total), 1), else_=0)).label("masked"))
        .where(R.assembly_id == assembly_id, R.office_id.in_(office_ids)).group_by(R.office_id))}
    alerts = {row[0]: row[1] for row in session.execute(
        select(T.office_id, func.coalesce(func.sum(T.distancing_alerts), 0))
        .where(T.assembly_id == assembly_id, T.office_id.in_(office_ids)).group_by(T.office_id)).all()}
    out = {}
    for oid in office_ids:
        m = masks.get(oid)
        out[oid] = ApelCounts(distancing_alerts=alert_episodes(int(alerts.get(oid) or 0)),
                              mask_known=int(m.known or 0) if m is not None else 0,
                              masked=int(m.masked or 0) if m is not None else 0)
    return out
