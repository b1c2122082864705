"""The live apel's faces waiting for an answer (app.live.crops): held per apel, bounded (answered
faces go first), hidden once vision names them confidently, dropped when the apel closes."""
from __future__ import annotations

import numpy as np

from app.live.crops import CropStore
from app.live.streams import StreamInfo
from attendance.vision.types import FaceResult, FrameResult


def _info(assembly_id: int = 1, office_id: int = 5) -> StreamInfo:
    return StreamInfo(f"{assembly_id}/OPD", assembly_id, office_id, 1, "OPD", track_prefix=f"b-{office_id}-1",
                      names={}, joined_at=0.0)


def _face(track: int, *, crop: bytes | None = b"\xff\xd8jpeg", person: str | None = None, conf: float = 0.0,
          emb: np.ndarray | None = None) -> FaceResult:
    return FaceResult(box=(0, 0, 40, 40), track_id=track, person_id=person, confidence=conf, distance=-1.0,
                      mask=False, mask_p=0.0, position_m=(0.0, 0.0, 3.0), embedding=emb, crop_jpeg=crop)


def test_faces_kept_updated_named_and_dropped() -> None:
    store = CropStore()
    info = _info()
    store.keep(info, FrameResult(0.0, [_face(1), _face(2, crop=None), _face(3, person="9", conf=0.4)]))
    faces = {f.track_key: f for f in store.faces(1)}
    assert set(faces) == {"b-5-1-1", "b-5-1-3"}          # a face without a crop yet is not held
    assert faces["b-5-1-3"].suggested == "9"
    emb = np.ones(4, np.float32)
    store.keep(info, FrameResult(1.0, [_face(1, crop=None, emb=emb), _face(3, person="9", conf=0.9, crop=None)]))
    assert np.array_equal(store.get(faces["b-5-1-1"].face_id).embedding, emb)
    assert [f.track_key for f in store.faces(1)] == ["b-5-1-1"]   # vision named track 3 by itself
    assert store.faces(1, office_id=6) == [] and store.faces(2) == []
    store.answered(faces["b-5-1-1"].face_id, "confirmed", 42, "operator")
    assert store.faces(1)[0].view()["status"] == "confirmed"
    dropped = store.drop(1)
    assert {f.track_key for f in dropped} == {"b-5-1-1", "b-5-1-3"}
    assert store.faces(1) == [] and store.get(faces["b-5-1-1"].face_id) is None and store.apels() == []


def test_bounded_answered_faces_go_first() -> None:
    store = CropStore(max_per_apel=3)
    info = _info()
    store.keep(info, FrameResult(0.0, [_face(1), _face(2), _face(3)]))
    first = {f.track_key: f.face_id for f in store.faces(1)}
    store.answered(first["b-5-1-2"], "visitor", None, "operator")
    store.keep(info, FrameResult(1.0, [_face(4)]))
    assert [f.track_key for f in store.faces(1)] == ["b-5-1-1", "b-5-1-3", "b-5-1-4"]
    assert store.get(first["b-5-1-2"]) is None
    store.keep(info, FrameResult(2.0, [_face(5)]))   # all open: the oldest goes
    assert [f.track_key for f in store.faces(1)] == ["b-5-1-3", "b-5-1-4", "b-5-1-5"]


def test_unsure_face_of_a_present_person_shown_only_when_seen_beside_them() -> None:
    """Person 9 is present (named on track 1). An unsure track suggested as 9 while 9 stood in view is
    someone else (perhaps colleague 7, not yet seen): the operator must see it. An unsure track of 9 at
    another time is 9's broken track: nobody needs to answer it."""
    store = CropStore()
    info = _info()
    for t in range(0, 6):                      # 9 named on track 1, an unsure face beside them on track 2
        store.keep(info, FrameResult(float(t), [_face(1, person="9", conf=0.9), _face(2, person="9", conf=0.4)]),
                   now=100.0 + t)
    for t in range(10, 14):                    # later, 9's track breaks: an unsure track 3 alone
        store.keep(info, FrameResult(float(t), [_face(3, person="9", conf=0.4)]), now=100.0 + t)
    shown = {f.track_key for f in store.needing_answer(1, 5, unseen={7})}
    assert shown == {"b-5-1-2"}
    # Were 9 not yet present, both unsure faces would be theirs to confirm.
    assert {f.track_key for f in store.needing_answer(1, 5, unseen={7, 9})} == {"b-5-1-2", "b-5-1-3"}
    assert store.needing_answer(1, 6, unseen={9}) == []
