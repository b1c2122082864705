"""Enrolment of one photo over the API, from real photos in ../shared/data/faces, and every bad
upload: each answers a clear 4xx and writes nothing (no template, no audit entry)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from attendance.models import FaceTemplate

from .conftest import NIPS, Env, make_env
from .images import faceless_png, png_header_bomb, reencode, rotated_with_exif

pytestmark = pytest.mark.shared_data


def _employee(env: Env, hr: dict, nip: str = NIPS[0]) -> int:
    r = env.client.post("/api/v1/employees", json={"nip": nip, "name": "Pegawai", "office_code": "DISKOMINFOS"},
                        headers=hr)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _upload(env: Env, hr: dict, emp: int, data: bytes, name: str = "photo.jpg", field: str = "photo") -> httpx.Response:
    return env.client.post(f"/api/v1/employees/{emp}/photos", files={field: (name, data, "application/octet-stream")},
                           headers=hr)


def test_real_photo_becomes_templates(env: Env, hr: dict, faces: Path) -> None:
    emp = _employee(env, hr)
    data = (faces / "lfw10/George_W_Bush/George_W_Bush_0001.jpg").read_bytes()
    r = _upload(env, hr, emp, data)
    assert r.status_code == 201, r.text
    body = r.json()
    kinds = [t["kind"] for t in body["templates"]]
    assert kinds[0] == "photo" and all(k == "masked" for k in kinds[1:])
    assert body["photo"]["accepted"] and 0 < body["photo"]["quality"] <= 1
    with env.app.state.session_factory() as s:
        rows = s.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp)).scalars().all()
        import hashlib

        assert {t.source_sha256 for t in rows} == {hashlib.sha256(data).hexdigest()}
        assert all(t.photo_path is None for t in rows)  # photos are not kept by default (UU PDP)
        vec = np.frombuffer(rows[0].embedding, dtype="<f4")
        assert vec.shape == (128 + 1024,) and 0.5 < float(np.linalg.norm(vec)) < 2.0   # dlib+faceres, the default
    # Another photo of the same person is a second template; the same photo again is a duplicate.
    assert _upload(env, hr, emp, (faces / "lfw10/George_W_Bush/George_W_Bush_0002.jpg").read_bytes()).status_code == 201
    before = env.counts()
    r = _upload(env, hr, emp, data)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "duplicate_photo"
    other = _employee(env, hr, NIPS[1])
    before = env.counts()
    r = _upload(env, hr, other, data)
    assert r.status_code == 409 and NIPS[0] in r.json()["detail"]["message"]
    assert env.counts() == before


def test_png_and_webp_are_accepted(env: Env, hr: dict, faces: Path) -> None:
    emp = _employee(env, hr)
    jpg = (faces / "lfw10/Tony_Blair/Tony_Blair_0001.jpg").read_bytes()
    assert _upload(env, hr, emp, reencode(jpg, "PNG"), "a.png").status_code == 201
    assert _upload(env, hr, emp, reencode(jpg, "WEBP", quality=90), "a.webp").status_code == 201


def test_exif_orientation_is_applied(env: Env, hr: dict, faces: Path) -> None:
    emp = _employee(env, hr)
    with_tag, without = rotated_with_exif((faces / "fr_examples/obama.jpg").read_bytes())
    r = _upload(env, hr, emp, without)
    assert r.status_code == 422, "a sideways face should not be found without its EXIF orientation"
    r = _upload(env, hr, emp, with_tag)
    assert r.status_code == 201, r.text
    w, h = r.json()["photo"]["width"], r.json()["photo"]["height"]
    assert h > w  # obama.jpg is portrait once the orientation is applied


@pytest.mark.parametrize("case", ["no_face", "several_faces", "not_image", "gif", "corrupt", "empty",
                                  "too_many_pixels", "text_as_jpeg"])
def test_bad_photos_are_rejected_and_nothing_is_written(env: Env, hr: dict, faces: Path, case: str) -> None:
    emp = _employee(env, hr)
    real = (faces / "fr_examples/obama.jpg").read_bytes()
    data, status, code = {
        "no_face": (faceless_png(), 422, "no_face"),
        "several_faces": ((faces / "fr_examples/two_people.jpg").read_bytes(), 422, "several_faces"),
        "not_image": (b"%PDF-1.4 this is a document, not a photo", 422, "not_image"),
        "gif": (reencode(real, "GIF"), 422, "not_image"),
        "corrupt": (real[: len(real) // 3], 422, "corrupt"),
        "empty": (b"", 422, "empty"),
        "too_many_pixels": (png_header_bomb(50_000, 50_000), 413, "too_many_pixels"),
        "text_as_jpeg": (b"\xff\xd8\xff" + b"not really a jpeg" * 10, 422, "corrupt"),
    }[case]
    before = env.counts()
    r = _upload(env, hr, emp, data)
    if case == "empty":  # an empty file part is "no photo sent"
        assert r.status_code == 422 and r.json()["detail"]["code"] in ("empty", "photo_missing")
    else:
        assert r.status_code == status, r.text
        assert r.json()["detail"]["code"] == code
        assert r.json()["detail"]["message"]
    assert env.counts() == before


def test_pixel_limit_from_settings(db_url: str, settings_factory, workers, faces: Path) -> None:
    for env in make_env(db_url, settings_factory, workers, max_image_pixels=100_000):
        hr = {"X-CSRF-Token": env.login("hr")}
        emp = _employee(env, hr)
        before = env.counts()
        r = _upload(env, hr, emp, (faces / "fr_examples/obama.jpg").read_bytes())  # 910x1137 > 100k px
        assert r.status_code == 413 and r.json()["detail"]["code"] == "too_many_pixels"
        assert env.counts() == before


def test_face_too_small_for_settings(db_url: str, settings_factory, workers, faces: Path) -> None:
    for env in make_env(db_url, settings_factory, workers, min_face_px=200):
        hr = {"X-CSRF-Token": env.login("hr")}
        emp = _employee(env, hr)
        before = env.counts()
        r = _upload(env, hr, emp, (faces / "lfw10/Colin_Powell/Colin_Powell_0001.jpg").read_bytes())
        assert r.status_code == 422 and r.json()["detail"]["code"] == "face_too_small"
        assert env.counts() == before


def test_oversized_upload_by_bytes(db_url: str, settings_factory, workers, faces: Path) -> None:
    for env in make_env(db_url, settings_factory, workers, max_upload_bytes=20_000):
        hr = {"X-CSRF-Token": env.login("hr")}
        emp = _employee(env, hr)
        big = (faces / "fr_examples/obama.jpg").read_bytes()
        assert len(big) > 20_000 + 64 * 1024
        before = env.counts()
        r = _upload(env, hr, emp, big)  # refused from Content-Length
        assert r.status_code == 413 and r.json()["detail"]["code"] == "too_large"
        # Chunked (no Content-Length): refused while streaming.
        boundary = "apelboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
        chunks = iter([body[i:i + 8192] for i in range(0, len(body), 8192)])
        r = env.client.post(f"/api/v1/employees/{emp}/photos", content=chunks,
                            headers={**hr, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413
        # Just above the photo limit but under the multipart allowance: refused after reading.
        mid = big[:30_000]
        r = _upload(env, hr, emp, mid)
        assert r.status_code == 413 and r.json()["detail"]["code"] == "too_large"
        assert env.counts() == before


def test_missing_file_and_wrong_content_type(env: Env, hr: dict) -> None:
    emp = _employee(env, hr)
    before = env.counts()
    r = env.client.post(f"/api/v1/employees/{emp}/photos", json={"photo": "x"}, headers=hr)
    assert r.status_code == 415
    r = env.client.post(f"/api/v1/employees/{emp}/photos", files={"other": ("a.txt", b"x")}, headers=hr)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "photo_missing"
    r = env.client.post("/api/v1/employees/9999/photos", files={"photo": ("a.jpg", b"x")}, headers=hr)
    assert r.status_code == 404
    assert env.counts() == before


async def test_enrolment_does_not_block_the_event_loop(env: Env, faces: Path) -> None:
    """While a template is computed, the same event loop keeps answering other requests."""
    bearer = env.token("hr")
    emp = _employee(env, {"X-CSRF-Token": env.login("hr")})
    data = (faces / "fr_examples/obama-1080p.jpg").read_bytes()
    done: dict[str, float] = {}
    transport = httpx.ASGITransport(app=env.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://apel") as c:
        async def upload() -> httpx.Response:
            r = await c.post(f"/api/v1/employees/{emp}/photos", files={"photo": ("o.jpg", data)}, headers=bearer)
            done["upload"] = time.monotonic()
            return r

        async def pings() -> int:
            n = 0
            await asyncio.sleep(0.05)
            while "upload" not in done and n < 200:
                assert (await c.get("/api/v1/health")).status_code == 200
                n += 1
                done.setdefault("first_ping", time.monotonic())
                await asyncio.sleep(0.01)
            return n

        r, n = await asyncio.gather(upload(), pings())
    assert r.status_code == 201, r.text
    assert n >= 3 and done["first_ping"] < done["upload"]
