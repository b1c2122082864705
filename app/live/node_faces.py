"""The live picker for faces a vision node analysed (issue 18 §2 with issue 20's nodes).

The web node's picker reads its own memory (app.live.crops.CropStore); a node's faces are in another
process, often on another machine, and the two share only the PostgreSQL database. So while the apel
runs a node writes the crop of each face that still needs an answer onto that face's review item
(review_items.evidence_jpeg, the column the node fills at the apel's end anyway: same retention,
same deletion by an answer or the retention job), and the web node lists the open apel's review items
with a picture that are not its own, beside the faces it holds. The embedding is already on the item
(record_sightings puts the track's best one there), so an answer needs nothing else from the node.

Written only for faces with a review item (a stray detection below the queue's minimum never leaves
the node), only when the crop changed, and taken off again when vision later names the face by itself
(nobody needs to answer it, so nobody needs its picture). With APEL_KEEP_EVIDENCE=false the crops
are written all the same, marked transient (review_items.evidence_transient): the web node's own
crops are held for the running apel too, only what outlives it is off. HR's queue does not show them,
and they go when the face is answered, when the node stops or settles the ended apel, and in any case
with the apel's end (review.drop_transient_crops), a node that died included.

The picker shows a node's faces by the rule the web node's own follow (CropStore.needing_answer):
an unsure face suggested as someone already present is shown only when a track of that person was
in view in the same office at the same time (it is somebody else). The database holds every track
of the apel, so the node publishes nothing more for it."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

from sqlalchemy import case, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, undefer

from app.live.crops import CropStore, LiveFace, in_view_together
from attendance import audit
from attendance.assemblies.confirmations import LIVE_STATUS, unseen_roster
from attendance.assemblies.lookups import lock_open_assembly
from attendance.assemblies.review import retention_end
from attendance.assemblies.sightings import MAX_CROP_BYTES
from attendance.models import (
    Assembly,
    AssemblyOffice,
    AssemblyStatus,
    Office,
    ReviewItem,
    SightingTrack,
)

PUBLISH_S = 2.0          # a node writes its changed crops at most this often
MAX_LISTED = 400         # the picker lists at most this many of the nodes' faces per apel (as CropStore)
FACE_PREFIX = "db-"      # a node's face in the picker: "db-<review item id>"

Key = tuple[int, str]    # (office id, track key)


def publish_crops(session: Session, assembly_id: int, crops: dict[Key, bytes], changed: set[Key],
                  clear: set[Key], retention_days: int, transient: bool = False) -> tuple[set[Key], int]:
    """One apel's faces on a node: `crops` the faces needing an answer, `changed` those whose crop is
    new since the node last wrote, `clear` faces it wrote that vision has named since. An open item
    with no file crop gets the crop when it has none or it changed. Returns the faces that have an
    item (the others are retried: their item comes once the track has the queue's minimum frames)
    and how many open items hold a crop of the node's now.
    Each write re-checks that the item is still open, so an answer given meanwhile (which dropped
    the picture) is never undone by a late write. `transient` (APEL_KEEP_EVIDENCE=false): the crops
    are for the running apel's picker only; they are written under the apel's lock and only while it
    is open, so none lands after the end deleted them (review.drop_transient_crops)."""
    keys = set(crops) | clear
    if not keys:
        return set(), 0
    rows = session.execute(select(ReviewItem.id, ReviewItem.status, ReviewItem.evidence_path,
                                  ReviewItem.has_evidence_jpeg, SightingTrack.office_id, SightingTrack.track_key)
                           .join(SightingTrack, SightingTrack.id == ReviewItem.track_id)
                           .where(ReviewItem.assembly_id == assembly_id,
                                  SightingTrack.track_key.in_(sorted({k for _, k in keys})))).all()
    seen: set[Key] = set()
    drop: list[int] = []
    write: list[tuple[int, bytes, bool]] = []   # (item, crop, it had one)
    held = 0
    for item_id, status, path, has_jpeg, office_id, track_key in rows:
        key = (int(office_id), str(track_key))
        if key not in keys:
            continue
        seen.add(key)
        if status != "open" or path is not None:
            continue
        jpeg = crops.get(key)
        if jpeg is None:
            if has_jpeg:
                drop.append(int(item_id))
        elif has_jpeg and key not in changed:
            held += 1
        else:
            write.append((int(item_id), jpeg, bool(has_jpeg)))
    if write and transient and not lock_open_assembly(session, assembly_id):
        write = []   # it ended: the end took every such crop away (review.drop_transient_crops)
    still_open = (ReviewItem.status == "open", ReviewItem.evidence_path.is_(None))
    if drop:
        session.execute(update(ReviewItem).where(ReviewItem.id.in_(drop), *still_open)
                        .values(evidence_jpeg=None, evidence_transient=False)
                        .execution_options(synchronize_session=False))
    latest = retention_end(retention_days)
    # a kept crop is evidence: its item lives at most the retention from now; a transient one changes no expiry
    expiry = {} if transient else {"expires_at": case(
        (or_(ReviewItem.expires_at.is_(None), ReviewItem.expires_at > latest), latest), else_=ReviewItem.expires_at)}
    new: list[int] = []
    for item_id, jpeg, had in write:
        written = cast(CursorResult[Any], session.execute(
            update(ReviewItem).where(ReviewItem.id == item_id, *still_open)
            .values(evidence_jpeg=jpeg, evidence_transient=transient, **expiry)
            .execution_options(synchronize_session=False)))
        if written.rowcount:
            held += 1
            if not had:
                new.append(item_id)
    if new and transient:
        audit.record(session, actor="system", action="live.crops_shown", entity="review_item", entity_id=None,
                     after={"items": new}, reason="face crops shown to the apel's operators for an answer, "
                     "deleted when the apel ends (evidence keeping is off)")
    elif new:
        audit.record(session, actor="system", action="review.evidence_keep", entity="review_item", entity_id=None,
                     after={"items": new}, reason="face crops shown to the apel's operators for an answer, kept "
                     f"for HR's review for at most {retention_days} days")
    return seen, held


class CropPublisher:
    """A node's side: what it wrote, so that each round writes only what changed."""

    def __init__(self) -> None:
        self._written: dict[tuple[int, Key], bytes] = {}   # the crop object an item was last given
        self._last = 0.0

    def due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._last < PUBLISH_S:
            return False
        self._last = now
        return True

    def round(self, store: CropStore, assembly_id: int) -> tuple[dict[Key, bytes], set[Key], set[Key]]:
        """This apel's arguments for publish_crops."""
        crops = {(f.office_id, f.track_key): f.jpeg for f in store.faces(assembly_id)
                 if f.status == "open" and f.jpeg and len(f.jpeg) <= MAX_CROP_BYTES}
        mine = self.written(assembly_id)
        changed = {k for k, jpeg in crops.items() if self._written.get((assembly_id, k)) is not jpeg}
        return crops, changed, mine - set(crops)

    def done(self, assembly_id: int, crops: dict[Key, bytes], clear: set[Key], seen: set[Key]) -> None:
        for key in seen:
            if key in crops:
                self._written[(assembly_id, key)] = crops[key]
        for key in clear & seen:
            self._written.pop((assembly_id, key), None)

    def written(self, assembly_id: int) -> set[Key]:
        """The faces of the apel whose items were given a crop (and not taken back since)."""
        return {key for aid, key in self._written if aid == assembly_id}

    def forget(self, assembly_id: int) -> None:
        for k in [k for k in self._written if k[0] == assembly_id]:
            del self._written[k]


# -- the web node's side


def _is_open(session: Session, assembly_id: int) -> bool:
    a = session.get(Assembly, assembly_id)
    return a is not None and a.status == AssemblyStatus.open.value


def _live_face(item: ReviewItem, track: SightingTrack, code: str, jpeg: bytes = b"") -> LiveFace:
    status = LIVE_STATUS.get(item.status, "open")
    return LiveFace(f"{FACE_PREFIX}{item.id}", item.assembly_id, item.office_id, code, track.track_key, jpeg,
                    track.first_at.timestamp(), track.last_at.timestamp(),
                    suggested=str(item.suggested_employee_id) if item.suggested_employee_id else None,
                    confidence=float(item.best_confidence or 0.0), backend=item.embedding_backend, status=status,
                    employee_id=item.resolved_employee_id if status == "confirmed" else None,
                    by=None if status == "open" else item.resolved_by)


def node_faces(session: Session, assembly_id: int, office_id: int | None, own_prefix: str) -> list[LiveFace]:
    """The running apel's faces other processes analysed that the picker shows: open review items with
    a picture, and answered ones (to undo); not this web node's own tracks (`own_prefix`), which it
    holds in memory. An open face suggested as someone already present (not among their office's
    picker people) only when they were in view beside it (together). Nothing once the apel has
    ended: HR answers in the review queue then."""
    if not _is_open(session, assembly_id):
        return []
    q = (select(ReviewItem, SightingTrack, Office.code)
         .join(SightingTrack, SightingTrack.id == ReviewItem.track_id)
         .join(Office, Office.id == ReviewItem.office_id)
         .where(ReviewItem.assembly_id == assembly_id, ~SightingTrack.track_key.startswith(own_prefix),
                or_(ReviewItem.status != "open", ReviewItem.evidence_jpeg.is_not(None),
                    ReviewItem.evidence_path.is_not(None)))
         .order_by(ReviewItem.id.desc()).limit(MAX_LISTED))
    if office_id is not None:
        q = q.where(ReviewItem.office_id == office_id)
    rows = session.execute(q).all()
    faces = [_live_face(item, track, str(code)) for item, track, code in reversed(rows)
             if item.status in LIVE_STATUS]
    suggested = [f for f in faces if f.status == "open" and f.suggested is not None]
    unseen = {o: {c["employee_id"] for c in unseen_roster(session, assembly_id, o)}
              for o in {f.office_id for f in suggested}}
    doubtful = [f for f in suggested if int(str(f.suggested)) not in unseen[f.office_id]]
    beside = together(session, assembly_id, doubtful) if doubtful else set()
    hidden = {f.face_id for f in doubtful} - beside
    return [f for f in faces if f.face_id not in hidden]


def together(session: Session, assembly_id: int, faces: list[LiveFace]) -> set[str]:
    """Those of `faces` (each suggested as someone) in view in their office for more than TOGETHER_S
    at the same time as another track the apel counts as that person: vision named it with
    confidence, or someone confirmed it. A person is not in two places: such a face is somebody else.
    As CropStore.needing_answer, from the tracks the database holds."""
    people = {int(f.suggested) for f in faces if f.suggested}
    spans: dict[tuple[int, int], list[tuple[str, float, float]]] = {}
    for office_id, employee_id, key, first, last in session.execute(
            select(SightingTrack.office_id, SightingTrack.employee_id, SightingTrack.track_key,
                   SightingTrack.first_at, SightingTrack.last_at)
            .where(SightingTrack.assembly_id == assembly_id, SightingTrack.employee_id.in_(sorted(people)),
                   or_(SightingTrack.confident_frames > 0, SightingTrack.confirmed_by.is_not(None)))):
        if employee_id is not None:
            spans.setdefault((int(office_id), int(employee_id)), []).append(
                (str(key), first.timestamp(), last.timestamp()))
    return {f.face_id for f in faces if f.suggested and in_view_together(
        f, ((a, b) for key, a, b in spans.get((f.office_id, int(f.suggested)), []) if key != f.track_key))}


def node_face(session: Session, face_id: str) -> LiveFace | None:
    """One node face, with its picture (from the database, or the file this web node wrote when an
    operator confirmed it), while its apel runs; None for anything else."""
    if not face_id.startswith(FACE_PREFIX) or not face_id[len(FACE_PREFIX):].isdigit():
        return None
    row = session.execute(select(ReviewItem, SightingTrack, Office.code)
                          .join(SightingTrack, SightingTrack.id == ReviewItem.track_id)
                          .join(Office, Office.id == ReviewItem.office_id)
                          .where(ReviewItem.id == int(face_id[len(FACE_PREFIX):]))
                          .options(undefer(ReviewItem.evidence_jpeg))).one_or_none()
    if row is None or not _is_open(session, row[0].assembly_id) or row[0].status not in LIVE_STATUS:
        return None
    item, track, code = row
    jpeg = item.evidence_jpeg or b""
    if not jpeg and item.evidence_path:
        try:
            jpeg = Path(item.evidence_path).read_bytes()
        except OSError:
            jpeg = b""
    return _live_face(item, track, str(code), jpeg)


def joined_apel(session: Session, office_id: int) -> int | None:
    """The open apel the office's camera is in, as the database knows it (the join may have reached
    another web process, or this one before a restart; vision nodes analyse it)."""
    return session.execute(select(AssemblyOffice.assembly_id)
                           .join(Assembly, Assembly.id == AssemblyOffice.assembly_id)
                           .where(AssemblyOffice.office_id == office_id, AssemblyOffice.joined_at.is_not(None),
                                  AssemblyOffice.left_at.is_(None), Assembly.status == AssemblyStatus.open.value)
                           .order_by(AssemblyOffice.assembly_id.desc()).limit(1)).scalar_one_or_none()
