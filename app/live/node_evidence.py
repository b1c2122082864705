"""What a vision node keeps of an apel beyond its sightings, as the web node keeps it for the offices
it analyses itself (app.live.service): the crops of faces nobody named, for HR's review queue, and
what the apel measured of each named person's face geometry (its one lesson, learned_geometry).

Both are held in memory per apel, like the web node's, and settled when the apel has ended (the node
notices on a heartbeat: the apel's leases are gone and it is no longer open) or when the node stops.
An office the node lost or gave back mid-apel keeps its faces here until then: the tracks are this
node's, nobody else will have their pictures.

The crops go into the database (review_items.evidence_jpeg), not the node's data folder: the web
node serves HR's queue and cannot read another machine's files. Only the crops of faces whose review
item is still open are kept, under the same retention and deletion as the web node's (review.keep_crops,
drop_biometrics, purge_expired). While the apel runs, the crops of faces needing an answer are written
early (every few seconds, only changed ones) so that the web node's live picker shows them
(app.live.node_faces). With APEL_KEEP_EVIDENCE=false that is all, as on the web node: the crops are
held for the running apel, written marked transient, and taken back when the node settles the apel
(the end takes them too, should the node be gone); none is kept for HR's queue."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.live.crops import CropStore
from app.live.db import DbThreads
from app.live.lessons import GeometryLessons
from app.live.node_faces import CropPublisher, publish_crops
from app.live.streams import StreamInfo
from app.settings import Settings
from attendance.assemblies.review import keep_crops
from attendance.db.unit_of_work import committed
from attendance.models import Assembly, AssemblyStatus
from attendance.roster.learned_geometry import learn_from_apel
from attendance.vision.types import FrameResult

log = logging.getLogger("apel.node")


def ended_apels(session: Session, ids: list[int]) -> list[int]:
    """Those of `ids` that are no longer open (ended, or deleted)."""
    open_ = set(session.execute(select(Assembly.id).where(
        Assembly.id.in_(ids), Assembly.status == AssemblyStatus.open.value)).scalars())
    return [i for i in ids if i not in open_]


class NodeEvidence:
    def __init__(self, settings: Settings, db: DbThreads) -> None:
        self.settings = settings
        self.db = db
        self.crops = CropStore()   # the running apel's, as the web node's (app.live.crops)
        self.lessons = GeometryLessons() if settings.learn_face_geometry else None
        self.publisher = CropPublisher()   # the faces needing an answer, for the web node's live picker

    def keep(self, info: StreamInfo, result: FrameResult) -> None:
        """An analysed frame (on the loop, as the web node's _on_result)."""
        if self.lessons is not None:
            self.lessons.keep(info.assembly_id, result)
        self.crops.keep(info, result)

    def apels(self) -> set[int]:
        return set(self.crops.apels()) | set(
            self.lessons.apels() if self.lessons is not None else ())

    async def publish(self, assembly_id: int) -> int:
        """The crops of this apel's faces needing an answer onto their review items, for the live picker
        of the web node (app.live.node_faces); a failure is retried on a later heartbeat. Returns how
        many open items hold a crop of this node's."""
        crops, changed, clear = self.publisher.round(self.crops, assembly_id)
        if not crops and not clear:
            return 0
        try:
            seen, held = await self.db.run(committed(publish_crops), assembly_id, crops, changed, clear,
                                           self.settings.evidence_retention_days, not self.settings.keep_evidence)
        except Exception:
            log.exception("apel %s: showing the face crops to the operators failed (retrying)", assembly_id)
            return 0
        self.publisher.done(assembly_id, crops, clear, seen)
        return held

    async def unpublish(self, assembly_id: int) -> None:
        """Evidence keeping is off: the apel's crops leave memory and the database (the ones this node
        wrote for the picker), the node having ended its part (the apel ended, or the node stops)."""
        self.crops.drop(assembly_id)
        written = self.publisher.written(assembly_id)
        if written:
            try:
                await self.db.run(committed(publish_crops), assembly_id, {}, set(), written,
                                  self.settings.evidence_retention_days, True)
            except Exception:   # the apel's end takes them (review.drop_transient_crops)
                log.exception("apel %s: taking the face crops back from the operators' picker failed", assembly_id)
        self.publisher.forget(assembly_id)

    async def settle_ended(self, analysing: set[int]) -> None:
        """On a heartbeat: every few seconds the faces needing an answer are published (publish); the
        apels this node holds something of but no longer analyses are settled once they have ended (one
        small query, only while there are such apels)."""
        if self.publisher.due():
            for assembly_id in sorted(self.crops.apels()):
                await self.publish(assembly_id)
        pending = sorted(self.apels() - analysing)
        if not pending:
            return
        for assembly_id in await self.db.run(ended_apels, pending):
            await self.settle(assembly_id)

    async def settle_all(self) -> None:
        """The node stops (as the web node's stop does: frames after a restart add nothing to the lesson)."""
        for assembly_id in sorted(self.apels()):
            await self.settle(assembly_id)

    async def settle(self, assembly_id: int) -> None:
        """Store the apel's lesson and its unanswered faces' crops; each failure costs only that part."""
        if self.lessons is not None:
            frames = self.lessons.take(assembly_id)
            if frames:
                try:
                    n = await self.db.run(committed(learn_from_apel), assembly_id, frames)
                    log.info("apel %s: face geometry learned for %d people", assembly_id, n)
                except Exception:
                    log.exception("apel %s: storing the learned face geometry failed", assembly_id)
        if not self.settings.keep_evidence:
            await self.unpublish(assembly_id)
        else:
            # the last changes first (a face named since: its picture goes); what it wrote is kept already
            published = await self.publish(assembly_id)
            self.publisher.forget(assembly_id)
            faces = [(f.office_id, f.track_key, f.jpeg) for f in self.crops.drop(assembly_id) if f.status == "open"]
            if faces:
                try:
                    n = await self.db.run(committed(keep_crops), assembly_id, faces, None,
                                          self.settings.evidence_retention_days)
                    log.info("apel %s: %d face crops kept for HR's review", assembly_id, n + published)
                except Exception:
                    log.exception("apel %s: keeping the face crops for review failed", assembly_id)
