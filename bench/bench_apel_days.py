"""The learning curve (issue 18 §5): the same office's staff on several apel days, each day's faces
through the live path frame by frame, the faces left unknown answered by a simulated operator
through the product's confirmation path, and the next day recognising with what was learned.

An office: 20 staff, enrolled on day 1 from their enrolment photos by the product's own enrolment
(roster.photos.analyse_photo + roster.templates.store_templates: a photo template and its masked
variants, at most 3 photos each), in a real SQLite database. Two kinds of staff:
- "rmfd": 20 East-Asian people of faces/rmfd (4-6 photos each), drawn by the office's seed;
- "west": the Western sets (faces/lfw10, faces/fr_examples knn with their test photos,
  faces/openface clapton and lennon: bench_recognition.western(), 17 people, 2-10 photos each)
  and 3 rmfd people to make 20 (the Western sets hold only 17 people with two photos or more).
A person's enrolment photos are their first min(3, n - 1) photos; the others are the photos they
show on camera, a different one each day where they have several (day d shows their d-th camera
photo, round robin). A third of the faces are masked on camera (make_office's masked_fraction
0.3, drawn each day), in colours the enrolment's masked variants never use.

Each day (`make_office(seed=day_seed(office, day), traits_seed=office)`: the office's own
people, each keeping their IPD and head height, standing in new places in rows 3-6 m from the
camera, 1080p or 720p, hfov 70 degrees, minimum distance 1 m), `--absent` of the staff (drawn
per day) stay home. The clip runs at 5 frames a second through `OfficePipeline` configured as the
live service's join configures it (app/live/service.py: the office's templates of the live
recogniser's backend, `roster_for_office`, and the face geometry learned on earlier days,
`load_geometry`), and each result goes where the service's `_on_result` sends it: sightings
(`sightings_from_result` -> `record_sightings`, one unit of work per frame), geometry lessons
(`GeometryLessons`) and the in-memory crops the operator sees (`CropStore`).

Then the operator (the truth stands in for the person in the room) answers the faces the
operator's page shows (the crops of faces the pipeline could not name with confidence, filtered
as app/web/api/confirmations.faces filters them), each by one tap: a face of a staff member not yet
marked present is confirmed as them (`confirmations.confirm_face`, exactly what the operator API
calls: the record, and a "sighting" template from the face's embedding); a face of nobody (a false
detection) is "not on the roster" (`mark_visitor`); a face of someone already marked present needs
no answer (the picker does not offer them) and is left. The apel then ends (`end_assembly`) and its
geometry lesson is stored (`learn_from_apel`), as `close_assembly` does. The next day's pipeline
reads the templates, the learned ones included, from the database.

Per day, over all offices:
- present marked automatically: present staff whose record is present or late before the operator;
- absentees marked present: absent staff whose record is present or late (before the operator;
  the operator never marks anyone, since answers go only to people in the room);
- unknown faces left for the operator (the faces the page shows), and the operator's taps;
- after the operator: present staff recorded present or late (the target is 100%), and wrong
  names (present staff recorded from another person's face cannot be told here; the figure is
  people, as HR sees them);
- why present staff stayed unrecorded after the operator (never detected; an unsure face hidden from
  the operator because its suggested name is someone already present; named as someone else);
- the operator's last step, where the tree has attendance.assemblies.present_by_hand: each present
  person still unrecorded is marked present by hand, one tap each ("by hand"), and the present
  recorded after that (the people the camera never detected are exactly what this step is for);
- absentees marked present with a one-sided 95% upper bound (the rule of three at 0), since
  "at most 1 in 200" needs hundreds of absent person-days (`--absent` raises them per office-day);
- why present people were not marked automatically (never detected, detected but never named, named
  as someone else, named right but too briefly for a record), split by masked or not, row, floor
  depth and East-Asian or Western face (apel_days_report);
- false distancing alerts per office-apel: alerts of the alert rule on pairs whose true distance
  is at least the minimum (bench_distance.score_apel); these offices are make_office's usual
  layout (some pairs too close on purpose), so recall is printed too.

The recogniser (`--recogniser`, default the product's DEFAULT_RECOGNISER) is the one the office is
enrolled with, the live pipeline runs and the operator's confirmations learn from (their templates carry
its backend), as a service started with APEL_RECOGNIZER set to it; it is recorded in every --json row.

Seeds: office k of a kind is `--seed-base + k` (rmfd) and `--seed-base + 50 + k` (west); each day
is `bench_distance.day_seed(office, day)`. Seeds from 5000 are this bench's; nothing in the
product was tuned on them (BENCHMARKS.md says which were run).

Run: nice -n 10 .venv/bin/python bench/bench_apel_days.py --kinds west,rmfd --offices 2 --days 4
     [--size 1080 --seconds 8 --absent 2 --people 20 --seed-base 5000 --recogniser dlib+faceres+arcface
      --work DIR --json OUT]
     .venv/bin/python bench/bench_apel_days.py --report OUT1 OUT2 ...   (batches' tables together)"""
from __future__ import annotations

import argparse
import importlib
import json
import pickle
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from apel_days_report import PersonDay, as_json, auto_reason, diagnosis, upper95
from bench_distance import day_seed, score_apel
from bench_recognition import western
from bench_vision_office import match, project, read_frames

from app.live.crops import CropStore
from app.live.lessons import GeometryLessons
from app.live.streams import StreamInfo
from app.live.translate import sightings_from_result
from attendance.assemblies.confirmations import LiveFaceRef, confirm_face, mark_visitor, unseen_roster
from attendance.assemblies.lifecycle import create_assembly, end_assembly, start_assembly
from attendance.assemblies.sightings import record_sightings
from attendance.db import make_engine, make_session_factory
from attendance.db.migrate import upgrade
from attendance.db.unit_of_work import committed, run_in_transaction
from attendance.models import AttendanceRecord, Employee, FaceTemplate, Office, User
from attendance.roster.learned_geometry import learn_from_apel, load_geometry
from attendance.roster.live_roster import roster_for_office
from attendance.roster.photos import PhotoLimits, analyse_photo
from attendance.roster.templates import store_templates
from attendance.rules import LATE, PRESENT
from attendance.vision.config import DEFAULT_RECOGNISER, PipelineConfig, backend_name
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.training.protocol import DATA, identities
from attendance.vision.training.synth_office import make_office
from attendance.vision.types import RosterPerson

try:   # the operator's "present by hand" (issue 18), where the tree has it
    mark_present_by_hand: Any = importlib.import_module("attendance.assemblies.present_by_hand").mark_present_by_hand
except ImportError:
    mark_present_by_hand = None

FPS = 5.0
HFOV = 70.0
MIN_DISTANCE_M = 1.0
SIZES = {1080: (1920, 1080), 720: (1280, 720)}
MAX_ENROL = 3
WESTERN_FILL = 3     # rmfd people added to the 17 Western ones to make 20
LEARNED = ("sighting", "masked_sighting")   # template kinds learned from the office's camera


def rmfd_people() -> dict[str, list[Path]]:
    return {f"rmfd/{k}": v for k, v in identities(DATA / "faces/rmfd", 4).items()}


def staff_for(kind: str, seed: int, people: int) -> dict[str, list[Path]]:
    """The office's staff (id -> photos), drawn by its seed."""
    rng = np.random.default_rng([seed, 11])
    rmfd = rmfd_people()
    if kind == "rmfd":
        pick = rng.permutation(sorted(rmfd))[:people]
        return {str(k): rmfd[str(k)] for k in pick}
    west = western()
    ids = dict(sorted(west.items())[:people])
    fill = rng.permutation(sorted(rmfd))[:max(0, people - len(ids))]
    ids.update({str(k): rmfd[str(k)] for k in fill})
    return ids


def split_photos(photos: list[Path]) -> tuple[list[Path], list[Path]]:
    """(enrolment photos, camera photos): the first min(3, n - 1) enrol, the rest are shown."""
    n = min(MAX_ENROL, len(photos) - 1)
    return photos[:n], photos[n:]


@dataclass
class BenchOffice:
    kind: str
    seed: int
    office_id: int
    operator_id: int
    staff: dict[str, list[Path]]
    employee: dict[str, int]            # staff id -> employee id
    enrol_failed: list[str] = field(default_factory=list)


@dataclass
class DayRow:
    present: int = 0
    auto: int = 0
    absent: int = 0
    absent_marked: int = 0
    shown: int = 0
    taps: int = 0
    confirmed: int = 0
    visitor: int = 0
    left_named_already: int = 0
    after: int = 0
    hand: int = -1          # the operator's "by hand" taps (-1: the product has no by-hand marking)
    after_hand: int = 0
    learned: int = 0
    false_alerts: int = 0
    alerts: int = 0
    clear_pairs: int = 0
    found: int = 0
    offices: int = 0
    unrenderable: int = 0   # staff left out of a day: none of their camera photos renders
    faces_px: list[float] = field(default_factory=list)
    camera: Counter = field(default_factory=Counter)
    missing: Counter = field(default_factory=Counter)   # why present staff were not recorded after the operator
    people: list[PersonDay] = field(default_factory=list)  # every present person, for the diagnosis
    seconds: float = 0.0
    frames: int = 0

    def add(self, o: DayRow) -> None:
        for k, v in vars(o).items():
            if isinstance(v, list):
                getattr(self, k).extend(v)
            elif isinstance(v, Counter):
                getattr(self, k).update(v)
            elif k == "hand":
                self.hand = v if self.hand < 0 else self.hand + max(v, 0)
            else:
                setattr(self, k, getattr(self, k) + v)


def make_db(path: Path) -> tuple[Any, Any]:
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    return engine, make_session_factory(engine)


def setup_office(session: Session, kind: str, seed: int, people: int, limits: PhotoLimits, k: int) -> BenchOffice:
    """The office, its staff and operator, and day 1's enrolment through the product's path."""
    staff = staff_for(kind, seed, people)
    office = Office(code=f"{kind[:4].upper()}{k}", name=f"Kantor {kind} {seed}", timezone="Asia/Makassar",
                    camera_hfov_deg=HFOV, min_distance_m=MIN_DISTANCE_M)
    session.add(office)
    session.flush()
    op = User(username=f"op{office.id}", password_hash="x", role="operator", office_id=office.id)
    session.add(op)
    session.flush()
    emp_ids, failed = {}, []
    for n, pid in enumerate(sorted(staff)):
        emp = Employee(nip=f"19850101201001{office.id:02d}{n:02d}", name=pid, office_id=office.id)
        session.add(emp)
        session.flush()
        emp_ids[pid] = emp.id
        enrol, _ = split_photos(staff[pid])
        ok = 0
        for p in enrol:
            photo = analyse_photo(p.read_bytes(), limits, name=p.name)
            if photo.ok:
                store_templates(session, emp, photo, actor="bench")
                ok += 1
        if not ok:
            failed.append(pid)
    session.commit()
    return BenchOffice(kind, seed, office.id, op.id, staff, emp_ids, failed)


def scene_dir(work: Path, o: BenchOffice, day: int, present: list[str]) -> Path:
    """The day's roster folder for make_office: each present person's camera photos, the day's one
    sorting last (make_office shows photo_index -1, and falls back to the others if its face is
    unusable)."""
    d = work / f"scene_{o.seed}_{day}"
    for pid in present:
        _, shown = split_photos(o.staff[pid])
        today = shown[(day - 1) % len(shown)]
        pd = d / pid.replace("/", "_")
        pd.mkdir(parents=True, exist_ok=True)
        for p in shown:
            link = pd / (("9_" if p == today else "0_") + p.name)
            if not link.exists():
                link.symlink_to(p.resolve())
    return d


def run_day(factory: Any, o: BenchOffice, day: int, a_args: argparse.Namespace, work: Path, leader_id: int) -> DayRow:
    row = DayRow(offices=1)
    rng = random.Random(day_seed(o.seed, day))
    staff_ids = sorted(o.staff)
    away = set(rng.sample(staff_ids, a_args.absent))
    present = [p for p in staff_ids if p not in away]
    scene = scene_dir(work, o, day, present)
    folder = {pid.replace("/", "_"): pid for pid in staff_ids}
    size = SIZES[a_args.size]
    clip, truth_path = work / f"day_{o.seed}_{day}.mp4", work / f"day_{o.seed}_{day}.json"
    while True:
        try:
            truth = make_office(scene, len(present), a_args.seconds, clip, truth_path, fps=FPS, size=size,
                                hfov_deg=HFOV, min_distance_m=MIN_DISTANCE_M, seed=day_seed(o.seed, day),
                                arrive_within_s=min(a_args.seconds * 0.3, 8.0), rows_m=a_args.rows_m,
                                traits_seed=o.seed)
            break
        except ValueError as e:
            # A person none of whose camera photos make_office can render: they sit this day out,
            # counted neither present nor absent; the day's layout is drawn for the others.
            bad = next((pid for pid in present if f"/{pid.replace('/', '_')}:" in str(e)), None)
            if bad is None:
                raise
            print(f"  day {day} seed {o.seed}: {bad} left out, no camera photo make_office can render", flush=True)
            present.remove(bad)
            shutil.rmtree(scene / bad.replace("/", "_"))
            row.unrenderable += 1
    _, pts = project(truth)
    backend = backend_name(a_args.recogniser)
    with factory() as s:
        leader = s.get(User, leader_id)
        a = committed(create_assembly)(s, actor=leader, kind="pagi", title=f"Apel {o.seed} hari {day}",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=5),
                                       office_ids=[o.office_id])
        committed(start_assembly)(s, a.id, actor=leader)
        aid = a.id
        roster, names = roster_for_office(s, o.office_id, backend)
        if a_args.ignore_learned:   # the pipeline reads the enrolment's templates only (learning's baseline)
            roster = [RosterPerson(p.person_id, p.embeddings[keep], tuple(k for k in p.kinds if k not in LEARNED))
                      for p in roster for keep in [np.asarray([k not in LEARNED for k in p.kinds], bool)]]
        geometry = load_geometry(s, [int(p.person_id) for p in roster]) or None
        row.learned = s.execute(select(FaceTemplate.id).join(Employee, Employee.id == FaceTemplate.employee_id)
                                .where(Employee.office_id == o.office_id,
                                       FaceTemplate.kind.in_(("sighting", "masked_sighting")))
                                ).all().__len__()
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=HFOV, min_distance_m=MIN_DISTANCE_M,
                                                 face_geometry=geometry, recogniser=a_args.recogniser))
    office_code = f"O{o.office_id}"
    info = StreamInfo(f"{aid}/{office_code}", aid, o.office_id, 0, office_code, track_prefix=f"d{day}-{o.office_id}",
                      names=names, joined_at=0.0, backend=backend)
    crops, lessons = CropStore(), GeometryLessons()
    truth_of: dict[str, Counter] = {}
    named_of: dict[str, Counter] = {}
    width_of: dict[str, list[float]] = {}
    emb_of: dict[str, np.ndarray] = {}    # the track's latest mean embedding (--dump)
    mask_of: dict[str, list[bool]] = {}
    frames_obs = []
    t0 = time.time()
    last_camera = "none"
    with factory() as s:
        for t, frame in read_frames(clip, FPS, truth["fps"]):
            c0 = time.process_time()
            res = pipe.process(frame, t0 + t)
            row.seconds += time.process_time() - c0
            row.frames += 1
            sightings = sightings_from_result(info, res)
            if sightings:
                run_in_transaction(s, partial(record_sightings, s, aid, o.office_id, sightings, keep_evidence=False),
                                   attempts=3)
            lessons.keep(aid, res)
            crops.keep(info, res, now=t0 + t)   # the clip's time, as a live feed's
            ids_now = [p["id"] for p in truth["people"] if p["appear_s"] <= t]
            m = match([f.box for f in res.faces], ids_now, pts)
            for i, pid in m.items():
                key = f"{info.track_prefix}-{res.faces[i].track_id}"
                truth_of.setdefault(key, Counter())[folder[pid]] += 1
                width_of.setdefault(key, []).append(float(res.faces[i].box[2]))
            for face in res.faces:
                fkey = f"{info.track_prefix}-{face.track_id}"
                if face.embedding is not None:
                    emb_of[fkey] = face.embedding
                mask_of.setdefault(fkey, []).append(bool(face.mask))
                if face.person_id is not None:
                    named_of.setdefault(fkey, Counter())[face.person_id] += 1
            row.faces_px += [float(f.box[2]) for f in res.faces]
            if res.camera:
                last_camera = "+".join([str(res.camera.get("state")), *res.camera.get("advice", [])])
            frames_obs.append({"t": t, "boxes": [list(f.box) for f in res.faces],
                               "tracks": [f.track_id for f in res.faces],
                               "violations": [[i, j] for i, j, _ in res.violations],
                               "alerts": [[al.a, al.b, al.new] for al in res.alerts]})
        row.camera[last_camera] += 1
        dist = score_apel({"truth": truth, "frames": frames_obs})["rule"]
        row.false_alerts, row.alerts = dist["false"], dist["alerts"]
        row.clear_pairs, row.found = dist["clear_pairs"], dist["found"]

        def people_marked() -> set[int]:
            s.expire_all()
            return set(s.execute(select(AttendanceRecord.employee_id).where(
                AttendanceRecord.assembly_id == aid, AttendanceRecord.status.in_((PRESENT, LATE)))).scalars())

        marked = people_marked()
        present_emp = {o.employee[p] for p in present}
        if a_args.dump:
            # Per track: the truth's employee, its latest mean embedding, masked (most frames), median
            # width and the names given; and the roster the day began with: offline gallery studies.
            a_args.dump.mkdir(parents=True, exist_ok=True)
            tracks = [{"key": k, "emp": o.employee[v.most_common(1)[0][0]], "emb": emb_of[k],
                       "masked": sum(mask_of.get(k, [])) * 2 > len(mask_of.get(k, [])),
                       "width": float(np.median(width_of[k])), "frames": sum(v.values()),
                       "named": dict(named_of.get(k, {}))} for k, v in truth_of.items() if k in emb_of]
            with open(a_args.dump / f"{o.kind}_{o.seed}_d{day}.pkl", "wb") as fh:
                pickle.dump({"roster": [(p.person_id, p.embeddings, tuple(p.kinds)) for p in roster],
                             "tracks": tracks, "present": sorted(present_emp), "marked": sorted(marked)}, fh)
        away_emp = {o.employee[p] for p in away}
        row.present, row.absent = len(present_emp), len(away_emp)
        row.auto = len(marked & present_emp)
        row.absent_marked = len(marked & away_emp)
        tracks_of: dict[int, list[str]] = {}
        for k, v in truth_of.items():
            tracks_of.setdefault(o.employee[v.most_common(1)[0][0]], []).append(k)
        for tp in truth["people"]:
            emp = o.employee[folder[tp["id"]]]
            keys = tracks_of.get(emp, [])
            widths = [w for k in keys for w in width_of.get(k, [])]
            row.people.append(PersonDay(
                day=day, kind=o.kind, face="East-Asian" if folder[tp["id"]].startswith("rmfd/") else "Western",
                masked=bool(tp["mask"]), row=int(tp["row"]), depth_m=float(tp["floor_m"][1]), auto=emp in marked,
                reason=None if emp in marked else auto_reason(keys, named_of, emp),
                face_px=float(np.median(widths)) if widths else None))

        # The operator's page: the faces it shows (CropStore.needing_answer, as the API).
        operator = s.get(User, o.operator_id)
        unseen = {c["employee_id"] for c in unseen_roster(s, aid, o.office_id)}
        shown = crops.needing_answer(aid, o.office_id, unseen)
        row.shown = len(shown)
        for f in shown:
            votes = truth_of.get(f.track_key)
            who = o.employee[votes.most_common(1)[0][0]] if votes else None
            ref = LiveFaceRef(aid, o.office_id, f.track_key, embedding=f.embedding, embedding_backend=f.backend,
                              confidence=f.confidence)
            unseen = {c["employee_id"] for c in unseen_roster(s, aid, o.office_id)}
            if who is None:
                run_in_transaction(s, partial(mark_visitor, s, ref, actor=operator))
                crops.answered(f.face_id, "visitor", None, operator.username)
                row.taps += 1
                row.visitor += 1
            elif who in unseen:
                run_in_transaction(s, partial(confirm_face, s, ref, actor=operator, employee_id=who))
                crops.answered(f.face_id, "confirmed", who, operator.username)
                row.taps += 1
                row.confirmed += 1
            else:
                row.left_named_already += 1
        marked = people_marked()
        row.after = len(marked & present_emp)
        open_keys = {f.track_key for f in crops.faces(aid, o.office_id)}
        shown_keys = {f.track_key for f in shown}
        for emp in present_emp - marked:
            keys = [k for k, v in truth_of.items() if o.employee[v.most_common(1)[0][0]] == emp]
            if not keys:
                why = "never detected"
            elif any(k in open_keys and k not in shown_keys for k in keys):
                why = "unsure face hidden (suggested someone already present)"
            elif any(named_of.get(k) for k in keys):
                why = "named as someone else"
            else:
                why = "detected, too few frames for a crop or a record"
            row.missing[why] += 1
        if mark_present_by_hand is not None:
            # The operator's last step: everyone in the room still unrecorded, one tap each.
            row.hand = 0
            for emp in sorted(present_emp - marked):
                run_in_transaction(s, partial(mark_present_by_hand, s, aid, emp, actor=operator))
                row.hand += 1
            marked = people_marked()
            if marked & away_emp != set() and len(marked & away_emp) != row.absent_marked:
                print(f"  absentees changed by the hand marks: {sorted(marked & away_emp)}", flush=True)
        row.after_hand = len(marked & present_emp)
        committed(end_assembly)(s, aid, actor=s.get(User, leader_id))
        frames = lessons.take(aid)
        if frames:
            committed(learn_from_apel)(s, aid, frames)
    clip.unlink(missing_ok=True)
    return row


def pct(n: int, d: int) -> str:
    return f"{n / d:.1%}" if d else "-"


def absentees(r: DayRow) -> str:
    """Absentees marked present with its one-sided 95% upper bound."""
    return f"{r.absent_marked}/{r.absent} (95% upper {upper95(r.absent_marked, r.absent):.2%})"


def print_table(rows: dict[int, DayRow], title: str) -> None:
    print(f"\n{title}")
    print("| day | offices | present marked automatically | absentees marked present | unknown faces left for "
          "the operator | operator taps | present recorded after the operator | by hand taps | present recorded "
          "after the hand marks | false distancing alerts per office-apel (recall <= 0.85x) | learned templates "
          "before the apel | median face width px |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    all_days = DayRow()
    for r in rows.values():
        all_days.add(r)
    labelled: list[tuple[str, DayRow]] = [(str(d), rows[d]) for d in sorted(rows)] + [("all", all_days)]
    for label, r in labelled:
        med = f"{np.median(r.faces_px):.0f}" if r.faces_px else "-"
        hand = (f"{r.hand} ({r.hand / max(r.offices, 1):.2f} an office-apel) | {r.after_hand}/{r.present} "
                f"({pct(r.after_hand, r.present)})") if r.hand >= 0 else "- | -"
        print(f"| {label} | {r.offices} | {r.auto}/{r.present} ({pct(r.auto, r.present)}) | "
              f"{absentees(r)} | {r.shown} | {r.taps} ({r.confirmed} confirmed, {r.visitor} not on "
              f"the roster; {r.left_named_already} left, person already present) | {r.after}/{r.present} "
              f"({pct(r.after, r.present)}) | {hand} | {r.false_alerts / max(r.offices, 1):.2f} "
              f"({pct(r.found, r.clear_pairs)} of {r.clear_pairs}) | {r.learned} | {med} |")
    for day in sorted(rows):
        if rows[day].unrenderable:
            print(f"day {day}: {rows[day].unrenderable} staff left out (no camera photo renders)")
        if rows[day].missing:
            print(f"day {day}: present staff not recorded after the operator: "
                  + ", ".join(f"{n} {why}" for why, n in rows[day].missing.most_common()))


def row_from_json(d: dict[str, Any]) -> DayRow:
    """A --json row back as the DayRow it was written from."""
    r = DayRow()
    for k in vars(r):
        if k == "people":
            r.people = [PersonDay(**p) for p in d.get("people", [])]
        elif k in ("camera", "missing"):
            setattr(r, k, Counter(d.get(k, {})))
        elif k in d:
            setattr(r, k, d[k])
    return r


def report(per_kind: dict[str, dict[int, DayRow]], total: dict[int, DayRow]) -> None:
    for kind, rows in per_kind.items():
        print_table(rows, f"{kind} offices")
    print_table(total, "all offices")
    for kind, rows in [*per_kind.items(), ("all", total)]:
        missing = Counter[str]()
        for r in rows.values():
            missing.update(r.missing)
        print(f"{kind} offices, all days: present staff not recorded after the operator (before the hand "
              f"marks): {', '.join(f'{n} {why}' for why, n in missing.most_common()) or 'none'}")
    print("\nwhy present people were not marked automatically (before the operator)")
    everyone = [p for r in total.values() for p in r.people]
    for kind in per_kind:
        for line in diagnosis([p for p in everyone if p.kind == kind], f"{kind} offices, all days"):
            print(line)
        for line in diagnosis([p for p in everyone if p.kind == kind and p.day == 1], f"{kind} offices, day 1"):
            print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="west,rmfd")
    ap.add_argument("--offices", type=int, default=2, help="offices per kind")
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--people", type=int, default=20)
    ap.add_argument("--absent", type=int, default=2, help="staff absent each day")
    ap.add_argument("--size", type=int, default=1080, choices=sorted(SIZES))
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rows-m", type=lambda v: tuple(float(x) for x in v.split(",")), default=(3.0, 6.0),
                    help="nearest and farthest row from the camera, e.g. 2.5,4.5 for faces that pass the camera "
                         "check at 1080p")
    ap.add_argument("--seed-base", type=int, default=5000)
    ap.add_argument("--recogniser", default=DEFAULT_RECOGNISER,
                    help="the recogniser spec (as APEL_RECOGNIZER): enrolment, the live pipeline and the templates "
                         "learned from confirmations all use it, e.g. dlib+faceres+arcface")
    ap.add_argument("--ignore-learned", action="store_true",
                    help="the pipeline reads only the enrolment's templates (learning's baseline); the operator "
                         "still confirms faces and the templates are still stored")
    ap.add_argument("--dump", type=Path, default=None,
                    help="folder: per office-day, the roster and each track's embedding and truth (pickle)")
    ap.add_argument("--work", type=Path, default=None, help="folder for clips and the database (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None,
                    help="write the per-office, per-day rows here (rewritten after each office-day)")
    ap.add_argument("--report", type=Path, nargs="+", default=None,
                    help="print the tables of earlier runs' --json files together (runs nothing)")
    a = ap.parse_args()
    if a.report:
        rows = [r for f in a.report for r in json.loads(f.read_text())]
        per_kind: dict[str, dict[int, DayRow]] = {}
        total: dict[int, DayRow] = {}
        for d in rows:
            r = row_from_json(d)
            per_kind.setdefault(d["kind"], {}).setdefault(d["day"], DayRow()).add(r)
            total.setdefault(d["day"], DayRow()).add(r)
        # Files from before --recogniser have no "recogniser": they ran the default of their day.
        recs = sorted({d.get("recogniser", f"{DEFAULT_RECOGNISER} (not recorded)") for d in rows})
        print(f"{len({(d['kind'], d['seed']) for d in rows})} offices from {', '.join(map(str, a.report))}; seeds "
              f"{sorted({d['seed'] for d in rows})}; recogniser {', '.join(recs)}"
              + ("  (MIXED: these tables pool recognisers)" if len(recs) > 1 else ""))
        report(per_kind, total)
        return
    if a.absent >= a.people:
        sys.exit("--absent must be smaller than --people")
    tmp = None
    if a.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="apel-days-")
        work = Path(tmp.name)
    else:
        work = a.work
        work.mkdir(parents=True, exist_ok=True)
    t_start, c_start = time.time(), time.process_time()
    engine, factory = make_db(work / f"apel_days_{int(t_start)}.db")
    limits = PhotoLimits(recogniser=a.recogniser)
    offices: list[BenchOffice] = []
    with factory() as s:
        leader = User(username="leader", password_hash="x", role="leader")
        s.add(leader)
        s.commit()
        leader_id = leader.id
        for kind in a.kinds.split(","):
            for k in range(a.offices):
                seed = a.seed_base + (50 if kind == "west" else 0) + k
                offices.append(setup_office(s, kind, seed, a.people, limits, k))
                print(f"office {kind} seed {seed}: {len(offices[-1].staff)} staff enrolled, "
                      f"no usable enrolment photo: {offices[-1].enrol_failed or 'none'}", flush=True)
    print(f"recogniser {a.recogniser} (templates of backend {backend_name(a.recogniser)})", flush=True)
    per_kind = {}
    total = {}
    out = []
    for day in range(1, a.days + 1):
        for o in offices:
            r = run_day(factory, o, day, a, work, leader_id)
            out.append({"kind": o.kind, "seed": o.seed, "day": day, "recogniser": a.recogniser,
                        "ignore_learned": a.ignore_learned,
                        **{k: (dict(v) if isinstance(v, Counter) else v) for k, v in vars(r).items()
                           if k not in ("faces_px", "people")},
                        "faces_px": [round(w, 1) for w in r.faces_px],
                        "people": [as_json(p) for p in r.people]})
            if a.json:
                a.json.write_text(json.dumps(out, indent=1))
            print(f"  day {day} {o.kind} seed {o.seed}: auto {r.auto}/{r.present}, absentees marked "
                  f"{r.absent_marked}/{r.absent}, shown {r.shown}, taps {r.taps}, after {r.after}/{r.present}, "
                  f"by hand {r.hand if r.hand >= 0 else '-'}, after hand {r.after_hand}/{r.present}, "
                  f"false alerts {r.false_alerts}, learned {r.learned}, camera {dict(r.camera)}, "
                  f"not recorded after the operator {dict(r.missing) or 0}, "
                  f"{r.seconds / max(r.frames, 1):.2f} s CPU/frame", flush=True)
            per_kind.setdefault(o.kind, {}).setdefault(day, DayRow()).add(r)
            total.setdefault(day, DayRow()).add(r)
    print(f"\n{len(offices)} offices x {a.days} days, {a.people} staff ({a.absent} absent a day), "
          f"{SIZES[a.size][0]}x{SIZES[a.size][1]}, recogniser {a.recogniser}, {a.seconds:g} s apels at "
          f"{FPS:g} frames/s; seeds "
          f"{sorted(o.seed for o in offices)}; {time.time() - t_start:.0f} s wall, "
          f"{time.process_time() - c_start:.0f} s CPU (this process)"
          + ("" if mark_present_by_hand is not None else "; the tree has no present_by_hand: no hand marks"))
    report(per_kind, total)
    engine.dispose()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
