"""Templates that grow from the office's own camera, end to end with real parts: a person not yet
enrolled stands in a synthetic office (real lfw10 photos); the live path (pipeline -> sightings ->
review) keeps the unknown face's embedding on its review item; HR says who it was; the embedding
becomes a "sighting" template of the live recogniser's backend, and the next apel names them."""
from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select

from app.cli.vision import video_frames
from app.live.streams import StreamInfo
from app.live.translate import sightings_from_result
from attendance.assemblies.lifecycle import create_assembly, start_assembly
from attendance.assemblies.review import assign_review_item
from attendance.assemblies.sightings import record_sightings
from attendance.db.unit_of_work import committed
from attendance.models import Employee, FaceTemplate, Office, ReviewItem, User
from attendance.roster.live_roster import roster_for_office
from attendance.vision.config import DEFAULT_RECOGNISER, PipelineConfig, backend_name
from attendance.vision.enrol import enrol_face
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.recognise.recognisers import MatchThresholds
from attendance.vision.roster_dir import read_image_rgb

from .conftest import OFFICE_HFOV, office_clip

pytestmark = [pytest.mark.shared_data]


def _apel(session, office: Office, leader: User, clip, roster):
    """One apel: the clip through the pipeline, every result recorded as the live path does."""
    a = committed(create_assembly)(session, actor=leader, kind="pagi", title="Apel pagi",
                                   scheduled_start=datetime.now(UTC), office_ids=[office.id])
    committed(start_assembly)(session, a.id, actor=leader)
    info = StreamInfo(f"{a.id}/{office.code}", a.id, office.id, 0, office.code, track_prefix=f"t{a.id}",
                      names={}, joined_at=0.0, backend=backend_name(DEFAULT_RECOGNISER))
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=OFFICE_HFOV))
    named: set[str] = set()
    t0 = time.time()
    for _, t, frame in video_frames(clip, 5.0):
        result = pipe.process(frame, t0 + t)
        named |= {f.person_id for f in result.faces if f.person_id}
        committed(record_sightings)(session, a.id, office.id, sightings_from_result(info, result))
    return a, named


def test_hr_confirmed_unknown_face_becomes_a_template_that_names_them_next_time(session, shared_data, tmp_path):
    clip, photos = office_clip(shared_data, tmp_path)
    office = Office(code="OPD1", name="Dinas Satu", timezone="Asia/Jakarta", camera_hfov_deg=OFFICE_HFOV)
    leader = User(username="leader", password_hash="x", role="leader")
    hr = User(username="hr", password_hash="x", role="hr")
    session.add_all([office, leader, hr])
    session.flush()
    people = {}
    for n, name in enumerate(sorted(photos)):
        people[name] = Employee(nip=f"19800101200501{n + 1:04d}", name=name, office_id=office.id)
        session.add(people[name])
    session.flush()
    newcomer, *enrolled = sorted(photos)
    for name in enrolled:
        face = enrol_face(read_image_rgb(photos[name]), masked_variants=False)
        session.add(FaceTemplate(employee_id=people[name].id, backend=face.backend, kind="photo",
                                 embedding=face.embedding.astype("<f4").tobytes(), source_sha256=f"{name:0>64}"[:64]))
    session.commit()

    roster, _ = roster_for_office(session, office.id, backend_name(DEFAULT_RECOGNISER))
    _, named = _apel(session, office, leader, clip, roster)
    assert str(people[newcomer].id) not in named

    items = session.execute(select(ReviewItem).where(ReviewItem.kind == "unknown")).scalars().all()
    with_face = [i for i in items if i.embedding is not None]
    assert with_face and all(i.embedding_backend == "dlib+faceres" for i in with_face)
    # The item HR recognises: the one whose face is the newcomer's (their photo, never stored).
    truth = enrol_face(read_image_rgb(photos[newcomer]), masked_variants=False).embedding
    dist = {i.id: float(np.linalg.norm(np.frombuffer(i.embedding, "<f4") - truth)) for i in with_face}
    item_id = min(dist, key=dist.get)
    assert dist[item_id] < MatchThresholds.load("dlib+faceres").accept
    committed(assign_review_item)(
        session, item_id, actor=hr, employee_id=people[newcomer].id, reason="pegawai baru, dikenali atasan")
    session.commit()
    tpl = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == people[newcomer].id)).scalar_one()
    assert (tpl.kind, tpl.backend) == ("sighting", "dlib+faceres")

    roster, _ = roster_for_office(session, office.id, backend_name(DEFAULT_RECOGNISER))
    _, named = _apel(session, office, leader, clip, roster)
    assert str(people[newcomer].id) in named
