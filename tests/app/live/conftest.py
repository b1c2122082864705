"""A running Apel (real uvicorn on a loopback port, real database) with an office, enrolled staff,
an open apel and office tokens, for the live tests and the browser test."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from attendance.assemblies.lifecycle import create_assembly, issue_office_token, start_assembly
from attendance.db.unit_of_work import committed
from attendance.models import Employee, FaceTemplate, Office, User
from attendance.vision.config import DEFAULT_RECOGNISER, backend_name
from tests.servers import ServerThread, free_port

__all__ = ["ServerThread", "free_port"]   # the live tests import them from here


def enrol_photo(path: Path, recogniser: str = DEFAULT_RECOGNISER) -> list[np.ndarray]:
    import face_recognition

    from attendance.vision.enrol import enrol_face

    face = enrol_face(face_recognition.load_image_file(str(path)), recogniser=recogniser)
    return [face.embedding, *face.masked_embeddings]


@dataclass
class LiveWorld:
    server: ServerThread
    assembly_id: int
    office_code: str
    office_id: int
    tokens: dict[str, str]
    people: dict[str, int]                     # name -> employee id
    users: dict[str, str] = field(default_factory=dict)   # username -> password

    @property
    def url(self) -> str:
        return self.server.url

    def login(self, username: str) -> dict[str, str]:
        r = httpx.post(f"{self.url}/api/v1/auth/login", json={"username": username, "password": self.users[username]})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def build_live_world(db_url: str, settings_factory, photos: dict[str, Path], *, extra_offices: int = 0,
                     min_confidence: float | None = None, **settings) -> Iterator[LiveWorld]:
    """Scheduled 30 minutes from now and started early, so everyone seen counts as present.

    `min_confidence`: a new version of the default rule set (an admin's change, as in the product)."""
    from app.web.app import create_app
    from attendance.roster.passwords import hash_password

    s = settings_factory(db_url, **settings)
    app = create_app(s)
    users = {"leader": "leader-pass-123", "hr": "hr-pass-1234", "operator": "op-pass-1234"}
    with app.state.session_factory() as db:
        office = Office(code="OPD1", name="Dinas Satu", timezone="Asia/Makassar", camera_hfov_deg=OFFICE_HFOV)
        others = [Office(code=f"OPD{i + 2}", name=f"Dinas {i + 2}", timezone="Asia/Makassar")
                  for i in range(extra_offices)]
        db.add_all([office, *others])
        db.flush()
        people = {}
        for n, (name, photo) in enumerate(photos.items()):
            e = Employee(nip=f"19800101200501{n + 1:04d}", name=name, office_id=office.id)
            db.add(e)
            db.flush()
            for k, emb in enumerate(enrol_photo(photo, s.recogniser_spec)):
                db.add(FaceTemplate(employee_id=e.id, backend=backend_name(s.recogniser_spec),
                                    embedding=np.asarray(emb, "<f4").tobytes(),
                                    kind="photo" if k == 0 else "masked", source_sha256=f"{n:02d}{k:062d}"))
            people[name] = e.id
        leader = User(username="leader", password_hash=hash_password(users["leader"]), role="leader")
        hr = User(username="hr", password_hash=hash_password(users["hr"]), role="hr")
        op = User(username="operator", password_hash=hash_password(users["operator"]), role="operator",
                  office_id=office.id)
        admin = User(username="admin", password_hash="-", role="admin")
        db.add_all([leader, hr, op, admin])
        db.commit()
        if min_confidence is not None:
            from attendance.assemblies.rulesets import create_ruleset_version

            committed(create_ruleset_version)(db, actor=admin, name="default", reason="live test calibration",
                                              min_confidence=min_confidence)
        a = committed(create_assembly)(
            db, actor=leader, kind=_kind(), title="Apel pagi",
            scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
            office_ids=[office.id, *[o.id for o in others]], ruleset_name="default")
        committed(start_assembly)(db, a.id, actor=leader)
        tokens = {o.code: committed(issue_office_token)(db, a.id, o.id, actor=leader, ttl_minutes=60)
                  for o in [office, *others]}
        world_ids = (a.id, office.id)
    server = ServerThread(app, free_port())
    server.start()
    world = LiveWorld(server, world_ids[0], "OPD1", world_ids[1], tokens, people, users)
    try:
        yield world
    finally:
        world.server.stop()


def restart(world: LiveWorld, settings) -> None:
    """Stop the server and start a fresh app (new process state, same database) on the same port."""
    from app.web.app import create_app

    port = world.server.port
    world.server.stop()
    world.server = ServerThread(create_app(settings), port)
    world.server.start()


OFFICE_PEOPLE = 3


OFFICE_HFOV = 45.0   # a normal lens on a 720p office camera puts 3-4 m faces at about 50 px
# Vision names a face only when it passes its own fitted acceptance distance and margin; the
# confidence it then reports for correctly named 50 px faces runs 0.5-0.8, so the rules' default
# min_confidence 0.6 leaves some correctly recognised people unseen (reported to the lead). The live
# tests check the wiring from camera to roll-call with the threshold at vision's scale.
LIVE_MIN_CONFIDENCE = 0.5


def office_clip(shared_data: Path, workdir: Path, people: int = OFFICE_PEOPLE,
                seconds: int = 8, *, roster: Path | None = None, name: str = "office",
                masked_fraction: float | None = None, size: tuple[int, int] = (1280, 720),
                hfov: float = OFFICE_HFOV) -> tuple[Path, dict[str, Path]]:
    """A synthetic office rendered by `apel synth-office` from real lfw10 photos (or `roster`, a folder
    of such people), and the photo each person is enrolled from. `name`: the clip's file name, so two
    offices can be rendered into one folder. `size` and `hfov`: a smaller frame with a narrower lens
    keeps the faces as large in pixels (cheaper to render, send and analyse)."""
    import json
    import subprocess
    import sys

    roster = roster or shared_data / "faces" / "lfw10"
    clip, truth = workdir / f"{name}.mp4", workdir / f"{name}-truth.json"
    cmd = [sys.executable, "-m", "app.cli", "synth-office", "--roster", str(roster), "--people", str(people),
           "--seconds", str(seconds), "--out", str(clip), "--truth", str(truth),
           "--width", str(size[0]), "--height", str(size[1]), "--fps", "15", "--hfov", str(hfov),
           *(["--masked-fraction", str(masked_fraction)] if masked_fraction is not None else [])]
    p = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=300)
    if p.returncode != 0 and "No such command" in (p.stderr + p.stdout):
        # Before `apel synth-office` exists: a real clip with two people whose reference photos ship
        # with face_recognition's examples (../shared/data/faces/fr_examples).
        fr = shared_data / "faces" / "fr_examples"
        return (shared_data / "video" / "face_recognition_short_hamilton_clip.mp4",
                {"Lin-Manuel Miranda": fr / "lin-manuel-miranda.png", "Alex Lacamoire": fr / "alex-lacamoire.png"})
    assert p.returncode == 0, p.stderr
    ids = _truth_ids(json.loads(truth.read_text()))
    photos = {pid: sorted((roster / pid).glob("*.jpg"))[0] for pid in ids}
    return clip, photos


def _truth_ids(truth) -> list[str]:
    people = truth.get("people", truth) if isinstance(truth, dict) else truth
    return sorted({str(p["id"]) for p in people})


def _kind() -> str:
    from attendance.models import AssemblyKind

    return list(AssemblyKind)[0].value
