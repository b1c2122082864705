"""`apel analyze --roster DIR`: one unusable roster photo (no face, two faces, unreadable) is skipped
with a warning naming it; only a person with no usable photo at all stops the analysis, named.
Real photos from the shared data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli import vision as cli_vision
from attendance.errors import Invalid
from attendance.vision.roster_dir import enrol_roster

from .images import faceless_png

pytestmark = pytest.mark.shared_data


def _person(root: Path, name: str, faces: Path, *photos: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    for rel in photos:
        (d / Path(rel).name).symlink_to(faces / rel)
    return d


@pytest.fixture
def roster(shared_data: Path, tmp_path: Path) -> Path:
    faces = shared_data / "faces"
    root = tmp_path / "roster"
    powell = _person(root, "Colin_Powell", faces, "lfw10/Colin_Powell/Colin_Powell_0001.jpg",
                     "fr_examples/two_people.jpg")                        # a group photo slipped in
    (powell / "empty.png").write_bytes(faceless_png())                    # and one with no face
    _person(root, "Tony_Blair", faces, "lfw10/Tony_Blair/Tony_Blair_0001.jpg")
    return root


def test_a_bad_photo_is_skipped_with_its_name(roster: Path) -> None:
    skipped: list[tuple[str, str]] = []
    people = enrol_roster(roster, recogniser="dlib", on_skip=lambda p, why: skipped.append((p.name, why)))
    assert sorted(p.person_id for p in people) == ["Colin_Powell", "Tony_Blair"]
    assert sorted(name for name, _ in skipped) == ["empty.png", "two_people.jpg"]
    assert all(why for _, why in skipped)


def test_a_person_without_any_usable_photo_is_named(roster: Path, shared_data: Path) -> None:
    (roster / "Nobody").mkdir()
    (roster / "Nobody" / "blank.png").write_bytes(faceless_png())
    _person(roster, "Crowd", shared_data / "faces", "fr_examples/two_people.jpg")
    with pytest.raises(Invalid) as exc:
        enrol_roster(roster, recogniser="dlib", on_skip=lambda p, why: None)
    assert exc.value.code == "roster_no_usable_photo"
    assert "Nobody (blank.png:" in exc.value.message and "Crowd (two_people.jpg:" in exc.value.message
    assert "Colin_Powell" not in exc.value.message
    # Not strict (the benchmarks): such people are left out instead.
    people = enrol_roster(roster, recogniser="dlib", strict=False, on_skip=lambda p, why: None)
    assert sorted(p.person_id for p in people) == ["Colin_Powell", "Tony_Blair"]


def test_analyze_goes_on_and_warns(roster: Path, shared_data: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    cli_vision.register(app)
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(shared_data / "faces/lfw10/Tony_Blair/Tony_Blair_0003.jpg", frames / "a.jpg")
    out = tmp_path / "out.json"
    r = CliRunner().invoke(app, ["analyze", str(frames), "--roster", str(roster), "--json", str(out),
                                 "--recogniser", "dlib"])
    assert r.exit_code == 0, r.output
    assert "two_people.jpg" in r.stderr and "empty.png" in r.stderr, r.stderr
    assert json.loads(out.read_text())["frames_analyzed"] == 1
