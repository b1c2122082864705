"""The office pipeline on a synthetic office made from real photos (faces/lfw10), assignment,
the worker pool, and the ONNX backend's plumbing with a model the test builds."""
from __future__ import annotations

import queue
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.vision.config import PipelineConfig
from attendance.vision.geometry.violations import violations
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.recognise.recognisers import (
    ELIMINATION_CONFIDENCE,
    Gallery,
    MatchThresholds,
    OnnxRecogniser,
    assign,
)
from attendance.vision.roster_dir import enrol_roster
from attendance.vision.training.synth_office import make_office
from attendance.vision.types import FaceGeometry, FrameResult, RosterPerson
from attendance.vision.workers import VisionWorkerPool


@pytest.fixture(scope="module")
def office(shared_data, tmp_path_factory):
    """6 people from lfw10 in a 1280x720 office (hfov 50: the same pixels per face as 1080p at
    70 degrees), 2 s at 5 fps; enrolled from 2 photos each, never the one on camera."""
    work = tmp_path_factory.mktemp("office")
    roster = work / "roster"
    roster.mkdir()
    for d in sorted((shared_data / "faces" / "lfw10").iterdir()):
        if d.is_dir():
            (roster / d.name).symlink_to(d.resolve())
    truth = make_office(roster, 6, 2.0, work / "o.mp4", work / "o.json", fps=5, size=(1280, 720), hfov_deg=50,
                        masked_fraction=0.0, seed=3, arrive_within_s=0.0)
    shown = {Path(p["photo"]).resolve() for p in truth["people"]}
    people = enrol_roster(roster, strict=False, exclude=shown, limit_per_person=2)
    return work / "o.mp4", truth, people


def frames(clip):
    cap = cv2.VideoCapture(str(clip))
    i = 0
    while True:
        ok, f = cap.read()
        if not ok:
            return
        yield i / 5.0, f
        i += 1


def test_office_people_named_placed_and_violations(office):
    clip, truth, roster = office
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=50))
    last: FrameResult | None = None
    named: dict[int, str] = {}
    for t, f in frames(clip):
        last = pipe.process(f, t)
        named.update({fc.track_id: fc.person_id for fc in last.faces if fc.person_id})
    assert last is not None
    ids = {p["id"] for p in truth["people"]}
    right = set(named.values()) & ids
    assert len(right) >= 5, (named, ids)
    assert set(named.values()) <= ids           # nobody outside the office is named
    assert len(set(named.values())) == len(named.values()) or len(named) > 6  # one person per face
    # Depth: every named face within 20% of the truth.
    truth_z = {p["id"]: float(np.linalg.norm(p["position_m"])) for p in truth["people"]}
    errs = [abs(np.linalg.norm(fc.position_m) - truth_z[fc.person_id]) / truth_z[fc.person_id]
            for fc in last.faces if fc.person_id]
    assert errs and float(np.median(errs)) < 0.15, errs
    # Violations reported for the pairs the truth has (both people named in the last frame).
    by_id = {fc.person_id: i for i, fc in enumerate(last.faces) if fc.person_id}
    pred = {frozenset((last.faces[i].person_id, last.faces[j].person_id)) for i, j, _ in last.violations
            if last.faces[i].person_id and last.faces[j].person_id}
    for a, b, _ in truth["violations"]:
        if a in by_id and b in by_id:
            assert frozenset((a, b)) in pred


def test_unknown_person_is_not_named(office):
    """With dlib alone one of the two strangers (a 60 px face) took a look-alike's name (this was
    a strict xfail until 2026-11-29); the default recogniser, dlib and FaceRes fused, keeps both
    unknown."""
    clip, truth, roster = office
    on_camera = {p["id"] for p in truth["people"]}
    # Remove two people from the roster: their faces must stay unknown, not take others' names.
    missing = sorted(on_camera)[:2]
    pipe = OfficePipeline([r for r in roster if r.person_id not in missing], PipelineConfig(hfov_deg=50))
    names = set()
    for t, f in frames(clip):
        names |= {fc.person_id for fc in pipe.process(f, t).faces if fc.person_id}
    assert not names & set(missing)
    assert names <= on_camera


def test_assignment_gives_one_person_per_face():
    g = Gallery.build([RosterPerson("a", np.zeros((1, 4), np.float32), ("photo",)),
                       RosterPerson("b", np.full((1, 4), 0.3, np.float32), ("photo",))])
    probes = np.array([[0.0, 0, 0, 0.05], [0.05, 0, 0, 0], [0.3, 0.3, 0.3, 0.3]], np.float32)
    cost = g.person_distances(probes)
    d = assign(cost, MatchThresholds(accept=0.5, margin=0.0), [1, 1, 1])
    chosen = [x.person for x in d if x.person is not None]
    assert len(chosen) == len(set(chosen)) == 2
    assert d[2].person == 1


# Face 0 looks like both A and B (margin too small to name it); face 1 is clearly B.
LOOKALIKE_COST = np.array([[0.30, 0.32, 0.90],
                           [0.50, 0.20, 0.90]], np.float32)


def test_a_face_is_named_once_its_lookalike_is_recognised_beside_it():
    th = MatchThresholds(accept=0.5, margin=0.06)
    d = assign(LOOKALIKE_COST, th, [2, 2])
    assert [x.person for x in d] == [0, 1]
    assert 0.5 <= d[0].confidence <= ELIMINATION_CONFIDENCE < d[1].confidence
    # The single assignment (the old rule) leaves face 0 to HR review.
    assert [x.person for x in assign(LOOKALIKE_COST, th, [2, 2], rounds=1)] == [None, 1]


def test_elimination_needs_the_lookalike_in_view_and_the_acceptance_distance():
    th = MatchThresholds(accept=0.5, margin=0.06)
    # B was named by a track not seen in this frame: maybe face 0 is B's track found again.
    d = assign(LOOKALIKE_COST, th, [2, 2], present=[True, False])
    assert [x.person for x in d] == [None, 1]
    # Too far from everyone left: a stranger next to B stays unknown.
    far = LOOKALIKE_COST.copy()
    far[0, 0] = 0.55
    assert [x.person for x in assign(far, th, [2, 2])] == [None, 1]


def test_a_visitor_does_not_take_an_absent_colleagues_name_by_elimination():
    """Face 0 is a visitor who looks like B (in view, named in face 1) and a little like A, who
    is away. Once B is named, A is the only rival left: a name by elimination must be closer
    than elimination_accept, which a look-alike stranger is not; the look-alike colleague of
    the test above (0.30 from A) still is."""
    visitor = np.array([[0.45, 0.40, 0.90],
                        [0.50, 0.20, 0.90]], np.float32)
    loose = MatchThresholds(accept=0.5, margin=0.06)
    assert [x.person for x in assign(visitor, loose, [2, 2])] == [0, 1]        # the old rule: A "present"
    th = MatchThresholds(accept=0.5, margin=0.06, elimination_accept=(0.35,))
    assert [x.person for x in assign(visitor, th, [2, 2])] == [None, 1]
    assert [x.person for x in assign(LOOKALIKE_COST, th, [2, 2])] == [0, 1]
    # The first round is unchanged: a face clearly A's is named at any distance below accept.
    clear = np.array([[0.45, 0.60, 0.90]], np.float32)
    assert [x.person for x in assign(clear, th, [2])] == [0]


def test_elimination_limit_follows_the_persons_number_of_photos():
    """A centroid of one photo lies further from everybody, its own face included, so the same
    rate of strangers allows a longer distance: per person, the limit for their photo count."""
    visitor = np.array([[0.45, 0.40, 0.90],
                        [0.50, 0.20, 0.90]], np.float32)
    th = MatchThresholds(accept=0.5, margin=0.06, elimination_accept=(0.48, 0.40, 0.35))
    assert [x.person for x in assign(visitor, th, [2, 2], photos=[1, 3, 3])] == [0, 1]   # A enrolled from 1 photo
    assert [x.person for x in assign(visitor, th, [2, 2], photos=[3, 3, 3])] == [None, 1]
    assert [x.person for x in assign(visitor, th, [2, 2], photos=[7, 3, 3])] == [None, 1]  # 3 or more: the last
    assert th.accept_in_round(True, 1) == 0.5 and th.accept_in_round(False, 2) == 0.40


def test_a_visitor_whose_lookalike_is_away_is_not_named_outright():
    """Face 0 is a visitor nearest to A, who is away; nobody else on the roster is close, so the
    margin does not stop the name in the first round. Every name must also be closer than
    name_accept (a distance strangers seldom reach, per number of photos): the visitor stays
    unknown, a face as close as A's own photos are is still named, and elimination keeps its
    own, stricter limit."""
    visitor = np.array([[0.42, 0.70, 0.90],
                        [0.60, 0.20, 0.90]], np.float32)
    loose = MatchThresholds(accept=0.5, margin=0.06)
    assert [x.person for x in assign(visitor, loose, [2, 2])] == [0, 1]       # A "present"
    th = MatchThresholds(accept=0.5, margin=0.06, elimination_accept=(0.35,), name_accept=(0.45, 0.40))
    assert [x.person for x in assign(visitor, th, [2, 2], photos=[3, 3, 3])] == [None, 1]
    assert [x.person for x in assign(visitor, th, [2, 2], photos=[1, 3, 3])] == [0, 1]   # A from 1 photo: 0.45
    own = visitor.copy()
    own[0, 0] = 0.30
    assert [x.person for x in assign(own, th, [2, 2], photos=[3, 3, 3])] == [0, 1]
    assert th.accept_in_round(True, 3) == 0.40 and th.accept_in_round(False, 3) == 0.35
    assert MatchThresholds(accept=0.5, margin=0.06).accept_in_round(True, 3) == 0.5


def test_the_pipeline_names_with_every_fitted_limit(office):
    """The live pipeline built its thresholds from accept and margin alone, so its names by
    elimination went without elimination_accept: the benchmarks' rule never reached an office.
    Every fitted limit is there, and a configured accept or margin replaces only itself."""
    _, _, roster = office
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=50))
    fitted = MatchThresholds.load(pipe.recogniser.name)
    assert fitted.elimination_accept
    assert pipe.thresholds == fitted
    tuned = OfficePipeline(roster, PipelineConfig(hfov_deg=50, accept=0.9), recogniser=pipe.recogniser)
    assert tuned.thresholds.accept == 0.9 and tuned.thresholds.margin == fitted.margin
    assert tuned.thresholds.elimination_accept == fitted.elimination_accept
    assert tuned.thresholds.name_accept == fitted.name_accept


def test_fitted_thresholds_keep_elimination_stricter_than_acceptance():
    """models/thresholds.json: every recogniser's elimination limits are fitted, below its
    accept, and looser for fewer photos; the gallery counts each person's photos."""
    for backend in ("dlib-128", "dlib+faceres"):
        th = MatchThresholds.load(backend)
        lims = th.elimination_accept
        assert isinstance(lims, tuple) and len(lims) == 3, (backend, th)
        assert 0 < lims[2] <= lims[1] <= lims[0] < th.accept, (backend, th)
        if th.name_accept:   # looser than elimination's (the margin still guards the first round)
            assert all(e <= n <= th.accept for e, n in zip(lims, th.name_accept, strict=True)), (backend, th)
    g = Gallery.build([RosterPerson("a", np.zeros((3, 4), np.float32), ("photo", "masked", "sighting")),
                       RosterPerson("b", np.zeros((1, 4), np.float32), ("photo",))])
    assert g.photos == (2, 1)


def test_violations_between_heads():
    v = violations([(0, 1, 3), (0.8, 1.2, 3.1), (3, 1, 3), (0.2, 0.8, 4.05)], 1.0)
    assert [(i, j) for i, j, _ in v] == [(0, 1)]  # (0, 3) is 1.0 m apart in 3D: not a violation


def test_config_rejects_absurd_values():
    with pytest.raises(ValueError, match="hfov"):
        PipelineConfig(hfov_deg=5).validate()
    with pytest.raises(ValueError, match="min_distance"):
        PipelineConfig(min_distance_m=-1).validate()
    with pytest.raises(ValueError, match="camera_height_m"):
        PipelineConfig(camera_height_m=0.1).validate()
    with pytest.raises(ValueError, match="eye_height_m"):
        PipelineConfig(camera_height_m=2.5, eye_height_m=3.0).validate()
    PipelineConfig(row_lines_m=(3.0, 4.5, 6.0)).validate()
    PipelineConfig(row_lines_m=(6.0, 3.0)).validate()   # in any order: the fit sorts them
    for bad, says in (((3.0, 3.2), "0.3 m apart"), ((0.2, 3.0), "between 0.5 and 30"), ((), "between 1 and 12"),
                      (tuple(float(i + 1) for i in range(13)), "between 1 and 12"), ("3;4", "list")):
        with pytest.raises(ValueError, match=f"row_lines_m: .*{says}"):
            PipelineConfig(row_lines_m=bad).validate()   # type: ignore[arg-type]


def test_a_streams_first_frame_is_a_quick_look_and_a_whole_look_follows(office, monkeypatch):
    """Offices joining at once queue for the workers one first look after another, so a stream's first
    frame shows its faces cheaply: HOG alone on a capped work image, nothing embedded (a fifth of a
    whole look's CPU); the next frame names them, and the next look, at the usual interval, is a
    whole look with every cue."""
    import time

    from attendance.vision.detect.detector import DetectorConfig, detect_faces

    clip, truth, roster = office
    fs = list(frames(clip))
    looks: list[tuple[float, DetectorConfig]] = []
    now = [0.0]

    def spy(rgb: np.ndarray, cfg: DetectorConfig) -> list:
        looks.append((now[0], cfg))
        return detect_faces(rgb, cfg)

    monkeypatch.setattr("attendance.vision.pipeline.detect_faces", spy)
    cfg = PipelineConfig(hfov_deg=50)
    OfficePipeline(roster, replace(cfg, quick_first_frame=False)).process(fs[0][1], 0.0)   # models, caches warm
    cpu = time.process_time()
    OfficePipeline(roster, replace(cfg, quick_first_frame=False)).process(fs[0][1], 0.0)
    whole_cpu = time.process_time() - cpu
    looks.clear()
    pipe = OfficePipeline(roster, cfg)
    cpu = time.process_time()
    first = pipe.process(fs[0][1], 0.0)
    quick_cpu = time.process_time() - cpu
    assert len(first.faces) >= 5 and not any(f.person_id for f in first.faces)   # shown, not yet named
    assert quick_cpu < 0.4 * whole_cpu, (quick_cpu, whole_cpu)
    quick = looks[0][1]
    assert not (quick.use_haar or quick.use_eyes or quick.use_mask_hog or quick.cnn_active or quick.tiles_active)
    assert quick.max_work_pixels <= cfg.first_look_work_pixels
    second = pipe.process(fs[1][1], 0.2)
    assert len(looks) == 1 and sum(bool(f.person_id) for f in second.faces) >= 5   # followed and named
    for k in range(2, 12):
        now[0] = round(0.2 * k, 1)
        pipe.process(fs[k % len(fs)][1], now[0])
    assert len(looks) == 2 and looks[1][0] == cfg.detect_interval_s, [t for t, _ in looks]
    whole = looks[1][1]
    assert whole.use_haar and whole.use_mask_hog and whole.cnn_active and whole.max_work_pixels == cfg.max_detect_pixels


def test_a_quick_first_look_that_finds_nobody_is_followed_by_a_whole_look_at_once(office, monkeypatch):
    """A first frame in which the quick look finds nobody (faces all smaller than it looks for: here its
    work image is made tiny) does not leave the office blank for a detection interval: the next frame,
    the same still picture, gets the whole look with every cue, and its people are found."""
    from attendance.vision.detect.detector import DetectorConfig, detect_faces

    clip, truth, roster = office
    fs = list(frames(clip))
    looks: list[DetectorConfig] = []

    def spy(rgb: np.ndarray, cfg: DetectorConfig) -> list:
        looks.append(cfg)
        return detect_faces(rgb, cfg)

    monkeypatch.setattr("attendance.vision.pipeline.detect_faces", spy)
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=50, first_look_work_pixels=64 * 36))
    assert not pipe.process(fs[0][1], 0.0).faces
    second = pipe.process(fs[0][1], 0.2)
    assert len(looks) == 2 and looks[1].use_haar and looks[1].use_mask_hog, looks
    assert len(second.faces) >= 5


def test_worker_pool_drops_instead_of_queueing(office):
    clip, truth, roster = office
    delivered: queue.Queue = queue.Queue()
    pool = VisionWorkerPool(workers=1)
    pool.start(lambda key, result: delivered.put((key, result)))   # pushed from the pool's reader thread
    try:
        pool.configure("office-1", roster, PipelineConfig(hfov_deg=50))
        fs = list(frames(clip))
        assert pool.submit("office-1", fs[0][1], fs[0][0]) is True
        assert pool.submit("office-1", fs[1][1], fs[1][0]) is False   # previous still in work
        key, result = delivered.get(timeout=120)
        assert key == "office-1" and isinstance(result, FrameResult) and result.faces
        assert pool.submit("office-1", fs[2][1], fs[2][0]) is True    # free again
        with pytest.raises(KeyError):
            pool.submit("nope", fs[0][1], 0.0)
    finally:
        pool.close()


def _tiny_onnx(path: Path, dim: int = 8) -> None:
    """Mean colour per channel -> fixed linear map: a real ONNX graph, small enough to build here."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(3, dim)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("MatMul", ["f", "w"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", dim])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_onnx_backend_plumbing(tmp_path, office):
    _tiny_onnx(tmp_path / "tiny.onnx")
    rec = OnnxRecogniser(tmp_path / "tiny.onnx")
    assert rec.dim == 8 and rec.size == (112, 112)
    red = np.zeros((150, 150, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((150, 150, 3), np.uint8)
    blue[..., 2] = 200
    e = rec.embed([red, blue, red])
    assert e.shape == (3, 8) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert np.allclose(e[0], e[2]) and not np.allclose(e[0], e[1])
    # And the pipeline runs end to end on it (8-d templates from the same backend).
    clip, truth, _ = office
    roster = [RosterPerson("red", e[:1], ("photo",))]
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=50, accept=0.2, margin=0.0), recogniser=rec)
    t, f = next(frames(clip))
    res = pipe.process(f, t)
    assert res.faces and all(len(fc.position_m) == 3 for fc in res.faces)
    with pytest.raises(FileNotFoundError):
        OnnxRecogniser(tmp_path / "missing.onnx")


def test_onnx_backend_warps_faces_onto_the_arcface_template(tmp_path, lfw):
    """ArcFace/SFace-class models are trained on faces whose eye centres, nose tip and mouth
    corners sit on InsightFace's 112x112 template: the backend's input must put a real face's
    eyes there (a central crop of dlib's chip put them ~23 px too high)."""
    from attendance.vision.enrol import detect_enrolment_faces
    from attendance.vision.faces import face_chip, landmarks5, landmarks68
    from attendance.vision.recognise.recognisers import ARCFACE_TEMPLATE_112

    from .conftest import read_rgb

    _tiny_onnx(tmp_path / "tiny.onnx")
    rec = OnnxRecogniser(tmp_path / "tiny.onnx")
    for name in ("Colin_Powell/Colin_Powell_0001.jpg", "Tony_Blair/Tony_Blair_0002.jpg"):
        img = read_rgb(lfw / name)
        box = detect_enrolment_faces(img)[0][0]
        face = rec.aligned([face_chip(img, landmarks5(img, box), *rec.chip)])[0]
        assert face.shape == (112, 112, 3)
        big = cv2.resize(face, (336, 336), interpolation=cv2.INTER_CUBIC)
        found = detect_enrolment_faces(big)
        assert found, name
        pts = landmarks68(big, found[0][0]) / 3.0
        got = np.array([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])
        err = np.linalg.norm(got - ARCFACE_TEMPLATE_112, axis=1)
        assert err[:2].max() < 4.0 and err.max() < 7.0, (name, err.round(1))


def test_state_is_bounded_by_people_in_view(office):
    """Memory does not grow with the feed: tracks end when people leave, views per track are capped."""
    from attendance.vision.track import MAX_VIEWS

    clip, truth, roster = office
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=50, embed_interval_s=0.0, views_per_track=100))
    fs = list(frames(clip))
    t = 0.0
    for _ in range(3):                     # the clip three times over
        for _, f in fs:
            pipe.process(f, t)
            t += 0.2
    assert len(pipe.tracks) <= 2 * len(truth["people"])
    assert all(len(tr.embeddings) <= MAX_VIEWS for tr in pipe.tracks)
    blank = np.full_like(fs[0][1], 128)
    for _ in range(15):                    # 3 s of an empty room
        res = pipe.process(blank, t)
        t += 0.2
    assert res.faces == [] and pipe.tracks == []


@pytest.mark.parametrize("setting", ["camera height", "row lines"])
def test_measured_office_geometry_reaches_the_distance_fit(office, setting):
    """What an operator measures reaches the distance fit: the camera's height
    (PipelineConfig.camera_height_m - eye_height_m is the heads' plane's height; here the
    synthetic office's own, camera 2.6 m, heads 1.6 m) or the formation's row lines
    (row_lines_m, the office's own lines). People stay where the truth has them and the fit
    differs from the one without the setting."""
    clip, truth, roster = office
    measured = {"camera height": dict(camera_height_m=truth["camera_height_m"],
                                      eye_height_m=truth["head_heights_m"]["mean"]),
                "row lines": dict(row_lines_m=tuple(truth["row_lines_m"]))}[setting]
    fs = list(frames(clip))
    last = {}
    for name, cfg in (("unknown", PipelineConfig(hfov_deg=50)), ("measured", PipelineConfig(hfov_deg=50, **measured))):
        pipe = OfficePipeline(roster, cfg)
        for t, f in fs:
            res = pipe.process(f, t)
        last[name] = {fc.person_id: fc.position_m for fc in res.faces if fc.person_id}
    truth_z = {p["id"]: p["position_m"][2] for p in truth["people"]}
    assert set(last["measured"]) == set(last["unknown"]) and len(last["measured"]) >= 5
    errs = [abs(pos[2] / truth_z[pid] - 1) for pid, pos in last["measured"].items()]
    assert float(np.median(errs)) < 0.10, errs
    assert any(abs(last["measured"][p][2] - last["unknown"][p][2]) > 1e-3 for p in last["measured"])


def test_learned_face_geometry_reaches_the_fit_and_its_samples_come_back(office):
    """A named face is read with what earlier roll-calls learned of that person
    (PipelineConfig.face_geometry: here each person's own IPD and eye height from the truth), and
    every frame says what it measured of the named people standing in a row (FaceResult's
    samples, what the live service learns from); an unknown face carries none."""
    clip, truth, roster = office
    mean_head = float(np.mean([p["head_height_m"] for p in truth["people"]]))
    geometry = {p["id"]: FaceGeometry(p["ipd_m"], 0.001, p["head_height_m"] - mean_head, 0.015, 5)
                for p in truth["people"]}
    fs = list(frames(clip))
    last = {}
    for name, cfg in (("none", PipelineConfig(hfov_deg=50)),
                      ("learned", PipelineConfig(hfov_deg=50, face_geometry=geometry))):
        pipe = OfficePipeline(roster, cfg)
        for t, f in fs:
            res = pipe.process(f, t)
        last[name] = res
    named = [fc for fc in last["none"].faces if fc.person_id]
    ipd = {fc.person_id: fc.ipd_sample_m for fc in named if fc.ipd_sample_m is not None}
    assert len(ipd) >= 3 and all(0.050 < v < 0.076 for v in ipd.values()), ipd
    assert all(fc.ipd_sample_m is None and fc.eye_offset_sample_m is None
               for fc in last["none"].faces if not fc.person_id)
    truth_z = {p["id"]: p["position_m"][2] for p in truth["people"]}
    placed = {fc.person_id: fc.position_m for fc in last["learned"].faces if fc.person_id}
    before = {fc.person_id: fc.position_m for fc in named}
    assert set(placed) == set(before) and len(placed) >= 5
    assert float(np.median([abs(pos[2] / truth_z[pid] - 1) for pid, pos in placed.items()])) < 0.10
    assert any(abs(placed[p][2] - before[p][2]) > 1e-3 for p in placed)


def test_a_new_resolution_starts_the_scene_over():
    """A camera that rejoins at another resolution: the tracks' boxes were in the old pixels, so the
    pipeline forgets them instead of following faces where they are not."""
    import numpy as np

    from attendance.vision.pipeline import OfficePipeline

    p = OfficePipeline([])
    p.process(np.zeros((720, 1280, 3), np.uint8), 0.0)
    calls = []
    p.new_scene = lambda: calls.append(1)   # type: ignore[method-assign]
    p.process(np.zeros((720, 1280, 3), np.uint8), 0.5)
    assert calls == []
    p.process(np.zeros((1080, 1920, 3), np.uint8), 1.0)
    assert calls == [1]
