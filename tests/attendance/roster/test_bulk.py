"""Bulk enrolment: a CSV roster plus a ZIP of photos named by NIP. All or nothing: any bad line,
file or photo answers 4xx with every reason, and the database is exactly as before."""
from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import NIPS, Env, make_env
from .images import faceless_png

pytestmark = pytest.mark.shared_data

HEADER = "nip,name,office_code,position\n"


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode("utf-8")


def _zip(entries: dict[str, bytes], *, compress: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compress) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


def _post(env: Env, hr: dict, roster: bytes | None = None, photos: bytes | None = None, **form: str):
    files = {}
    if roster is not None:
        files["roster"] = ("roster.csv", roster, "text/csv")
    if photos is not None:
        files["photos"] = ("photos.zip", photos, "application/zip")
    return env.client.post("/api/v1/enrolment/bulk", files=files, data=form, headers=hr)


@pytest.fixture
def photo(faces: Path):
    return lambda rel: (faces / rel).read_bytes()


def test_roster_and_photos_in_one_go(env: Env, hr: dict, photo) -> None:
    roster = _csv(f"{NIPS[0]},Made Wirawan,DISKOMINFOS,Analis",
                  f"{NIPS[1]},Ni Luh Ayu,bkpsdm,",  # office codes are case-insensitive
                  f"{NIPS[2]},Komang Tanpa Foto,BKPSDM,Staf")
    photos = _zip({f"{NIPS[0]}.jpg": photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg"),
                   f"{NIPS[0]}_2.jpg": photo("lfw10/Hugo_Chavez/Hugo_Chavez_0002.jpg"),
                   f"{NIPS[1]}/front.jpg": photo("lfw10/Jacques_Chirac/Jacques_Chirac_0001.jpg"),
                   "__MACOSX/._junk": b"\x00\x05", ".DS_Store": b"junk"})
    r = _post(env, hr, roster, photos)
    assert r.status_code == 201, r.text
    body = r.json()
    assert sorted(e["nip"] for e in body["created"]) == sorted(NIPS[:3])
    assert sorted(e["nip"] for e in body["enrolled"]) == sorted([NIPS[0], NIPS[0], NIPS[1]])
    listing = {e["nip"]: e for e in env.client.get("/api/v1/employees").json()}
    assert listing[NIPS[0]]["photos_enrolled"] == 2 and listing[NIPS[2]]["photos_enrolled"] == 0
    # Photos alone for employees that already exist.
    r = _post(env, hr, photos=_zip({f"{NIPS[2]}.png": photo("lfw10/Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg")}))
    assert r.status_code == 201, r.text


def test_semicolon_csv_with_bom_and_indonesian_headers(env: Env, hr: dict) -> None:
    data = "\ufeffNIP;Nama;Kode_OPD;Jabatan;Aktif\n198503122010011001;Made;DISKOMINFOS;Analis;ya\n".encode()
    r = _post(env, hr, data)
    assert r.status_code == 201, r.text
    assert r.json()["created"][0]["name"] == "Made"


def _bad(env: Env, hr: dict, status: int, code: str, **kw) -> dict:
    before = env.counts()
    r = _post(env, hr, **kw)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    assert env.counts() == before, "a rejected bulk request must not write anything"
    return detail


def test_csv_wrong_columns(env: Env, hr: dict) -> None:
    d = _bad(env, hr, 422, "csv_columns", roster=_csv(f"{NIPS[0]},Made,X", header="nip,fullname,office_code\n"))
    assert "name" in d["details"]["missing"] and "fullname" in d["details"]["unknown"]
    _bad(env, hr, 422, "csv_columns", roster=_csv(f"{NIPS[0]},Made", header="nip,name\n"))
    _bad(env, hr, 422, "csv_columns", roster=_csv(f"{NIPS[0]},Made,A,B", header="nip,name,office_code,nip\n"))
    _bad(env, hr, 422, "csv_empty", roster=b"\n\n")


def test_csv_wrong_encoding(env: Env, hr: dict) -> None:
    latin1 = f"{HEADER}{NIPS[0]},Ketut Süardana,DISKOMINFOS,Staf\n".encode("latin-1")
    d = _bad(env, hr, 422, "csv_encoding", roster=latin1)
    assert "UTF-8" in d["message"] and "line 2" in d["message"]
    _bad(env, hr, 422, "csv_encoding", roster=f"{HEADER}{NIPS[0]},Made,DISKOMINFOS,\n".encode("utf-16"))
    _bad(env, hr, 422, "csv_encoding", roster=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # binary, not text


def test_csv_bad_rows_are_all_reported(env: Env, hr: dict) -> None:
    env.client.post("/api/v1/employees", json={"nip": NIPS[3], "name": "Ada", "office_code": "BKPSDM"}, headers=hr)
    roster = _csv(f"{NIPS[0]},Good Row,DISKOMINFOS,",
                  "19850312201001100,Short NIP,DISKOMINFOS,",
                  f"{NIPS[1]},Unknown Office,NOWHERE,",
                  f"{NIPS[0]},Repeated NIP,DISKOMINFOS,",
                  f"{NIPS[3]},Already Registered,BKPSDM,",
                  f"{NIPS[2]},Too,Many,Fields,Here")
    d = _bad(env, hr, 422, "csv_rows", roster=roster)
    text = " ".join(d["details"]["errors"])
    assert "line 3" in text and "18 digits" in text          # malformed NIP
    assert "line 7" in text                                  # wrong field count
    roster = _csv(f"{NIPS[0]},Good Row,DISKOMINFOS,", "19850312201001100,Short NIP,DISKOMINFOS,",
                  f"{NIPS[1]},Unknown Office,NOWHERE,", f"{NIPS[0]},Repeated NIP,DISKOMINFOS,",
                  f"{NIPS[3]},Already Registered,BKPSDM,")
    d = _bad(env, hr, 422, "csv_rows", roster=roster)
    errors = d["details"]["errors"]
    assert any("line 3" in e and "18 digits" in e for e in errors)
    assert any("line 4" in e and "NOWHERE" in e for e in errors)
    assert any("line 5" in e and "repeats line 2" in e for e in errors)
    assert any("line 6" in e and "already registered" in e for e in errors)


def test_zip_path_traversal(env: Env, hr: dict, photo) -> None:
    img = photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg")
    for name in (f"../{NIPS[0]}.jpg", f"/etc/{NIPS[0]}.jpg", f"a/../../{NIPS[0]}.jpg", f"..\\{NIPS[0]}.jpg"):
        d = _bad(env, hr, 422, "zip_path_traversal", roster=_csv(f"{NIPS[0]},Made,DISKOMINFOS,"),
                 photos=_zip({name: img}))
        assert name in d["message"] or repr(name) in d["message"]


def test_zip_too_many_files(db_url: str, settings_factory, workers, photo) -> None:
    for env in make_env(db_url, settings_factory, workers, max_zip_files=3):
        hr = {"X-CSRF-Token": env.login("hr")}
        img = photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg")
        entries = {f"{NIPS[0]}_{i}.jpg": img for i in range(4)}
        d = _bad(env, hr, 422, "zip_too_many_files", roster=_csv(f"{NIPS[0]},Made,DISKOMINFOS,"), photos=_zip(entries))
        assert "4 entries" in d["message"]


def test_zip_bomb_and_junk(env: Env, hr: dict) -> None:
    bomb = _zip({f"{NIPS[0]}.jpg": b"\xff\xd8\xff" + b"\x00" * 5_000_000}, compress=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 50_000
    _bad(env, hr, 422, "zip_bomb", roster=_csv(f"{NIPS[0]},Made,DISKOMINFOS,"), photos=bomb)
    _bad(env, hr, 422, "zip_corrupt", photos=b"PK\x03\x04 this is not really a zip")
    d = _bad(env, hr, 422, "zip_entries", roster=_csv(f"{NIPS[0]},Made,DISKOMINFOS,"),
             photos=_zip({"notes.txt": b"hello", "no-nip-here.jpg": b"\xff\xd8\xff"}))
    assert len(d["details"]["errors"]) == 2
    _bad(env, hr, 422, "bulk_empty", roster=b"")  # an empty file counts as none


def test_zip_photo_for_unknown_nip(env: Env, hr: dict, photo) -> None:
    photos = _zip({f"{NIPS[4]}.jpg": photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg")})
    _bad(env, hr, 422, "zip_unknown_nip", photos=photos)


def test_one_bad_photo_rejects_the_whole_request(env: Env, hr: dict, photo) -> None:
    roster = _csv(f"{NIPS[0]},Made,DISKOMINFOS,", f"{NIPS[1]},Ayu,DISKOMINFOS,", f"{NIPS[2]},Komang,DISKOMINFOS,")
    good = photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg")
    photos = _zip({f"{NIPS[0]}.jpg": good,
                   f"{NIPS[1]}.jpg": photo("fr_examples/two_people.jpg"),
                   f"{NIPS[2]}.png": faceless_png(),
                   f"{NIPS[2]}_2.jpg": good})  # the same photo twice in one ZIP
    d = _bad(env, hr, 422, "photos_rejected", roster=roster, photos=photos)
    codes = {r["file"]: r["code"] for r in d["details"]["rejected"]}
    assert codes == {f"{NIPS[1]}.jpg": "several_faces", f"{NIPS[2]}.png": "no_face",
                     f"{NIPS[2]}_2.jpg": "duplicate_photo"}


def test_oversized_bulk_upload(db_url: str, settings_factory, workers, photo) -> None:
    for env in make_env(db_url, settings_factory, workers, max_zip_bytes=40_000, max_upload_bytes=30_000):
        hr = {"X-CSRF-Token": env.login("hr")}
        img = photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg")
        big = _zip({f"{NIPS[0]}_{i}.jpg": img + bytes([i]) * 10 for i in range(4)})
        assert len(big) > 40_000
        _bad(env, hr, 413, "too_large", roster=_csv(f"{NIPS[0]},Made,DISKOMINFOS,"), photos=big)


def test_a_folder_named_by_nip_decides_for_phone_named_photos(env: Env, hr: dict, photo) -> None:
    """A phone names its photos by date and time, which starts with digits: inside `<NIP>/` the folder
    decides (before, `20240315_083012.jpg` was refused as a NIP of 8 digits)."""
    roster = _csv(f"{NIPS[0]},Made Wirawan,DISKOMINFOS,", f"{NIPS[1]},Ni Luh Ayu,DISKOMINFOS,")
    chirac = photo("lfw10/Jacques_Chirac/Jacques_Chirac_0001.jpg")
    photos = _zip({f"{NIPS[0]}/20240315_083012.jpg": photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg"),
                   f"foto/{NIPS[1]} - Ni Luh/IMG_20240316_0812.jpg": chirac})
    r = _post(env, hr, roster, photos)
    assert r.status_code == 201, r.text
    assert sorted(e["nip"] for e in r.json()["enrolled"]) == sorted(NIPS[:2])


def test_every_problem_of_an_upload_is_reported_at_once(env: Env, hr: dict, photo) -> None:
    """A bad CSV line, a badly named ZIP entry, a photo for nobody and a photo without a face: one
    answer lists all four (before, HR saw the CSV's problems, fixed them, then the ZIP's, then the photos')."""
    roster = _csv(f"{NIPS[0]},Made,DISKOMINFOS,", "19850312201001100,Short NIP,DISKOMINFOS,")
    photos = _zip({f"{NIPS[0]}.jpg": photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg"),
                   f"{NIPS[0]}_2.png": faceless_png(),
                   "IMG_0001.jpg": photo("lfw10/Jacques_Chirac/Jacques_Chirac_0001.jpg"),
                   f"{NIPS[4]}.jpg": photo("lfw10/Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg")})
    d = _bad(env, hr, 422, "bulk_rejected", roster=roster, photos=photos)
    text = " ".join(d["details"]["errors"])
    assert "line 3" in text and "18 digits" in text                 # the CSV
    assert "IMG_0001.jpg" in text                                   # the ZIP's names
    assert f"{NIPS[4]}.jpg: no employee" in text                    # a photo for nobody
    assert {r["file"]: r["code"] for r in d["details"]["rejected"]} == {f"{NIPS[0]}_2.png": "no_face"}
    assert [p["code"] for p in d["details"]["problems"]] == ["csv_rows", "zip_entries", "zip_unknown_nip",
                                                             "photos_rejected"]
    # A CSV that cannot be read at all does not hide the photos' problems either.
    d = _bad(env, hr, 422, "bulk_rejected", roster=_csv(f"{NIPS[0]},Made", header="nip,name\n"),
             photos=_zip({f"{NIPS[0]}.png": faceless_png()}))
    assert [p["code"] for p in d["details"]["problems"]] == ["csv_columns", "photos_rejected"]


def test_the_page_lists_every_problem_at_once(env: Env, hr: dict, photo) -> None:
    csrf = hr["X-CSRF-Token"]
    before = env.counts()
    photos = _zip({"IMG_0001.jpg": photo("lfw10/Hugo_Chavez/Hugo_Chavez_0001.jpg"), f"{NIPS[0]}.png": faceless_png()})
    r = env.client.post("/enrolment", data={"csrf_token": csrf},
                        files={"roster": ("r.csv", _csv("19850312201001100,Short NIP,DISKOMINFOS,"), "text/csv"),
                               "photos": ("p.zip", photos, "application/zip")})
    assert r.status_code == 422
    assert "line 2" in r.text and "IMG_0001.jpg" in r.text and f"{NIPS[0]}.png" in r.text
    assert env.counts() == before


def test_an_upload_that_asks_for_too_much_decoding_is_refused_before_any(db_url: str, settings_factory,
                                                                          workers) -> None:
    """Ten 36 MP all-black PNGs are a few kilobytes each and cost the worker half a minute to decode and
    search: the upload's pixels are added up from the headers and refused before any photo is decoded."""
    black = io.BytesIO()
    Image.fromarray(np.zeros((6000, 6000), np.uint8)).save(black, "PNG")
    for env in make_env(db_url, settings_factory, workers, max_upload_pixels=300_000_000):
        hr = {"X-CSRF-Token": env.login("hr")}
        photos = _zip({f"{NIPS[0]}/{i}.png": black.getvalue() for i in range(10)}, compress=zipfile.ZIP_DEFLATED)
        t0 = time.monotonic()
        r = _bad(env, hr, 413, "upload_too_many_pixels", roster=_csv(f"{NIPS[0]},Made,DISKOMINFOS,"), photos=photos)
        assert time.monotonic() - t0 < 10, "the photos were decoded before the refusal"
        assert r["details"]["pixels"] == 360_000_000
