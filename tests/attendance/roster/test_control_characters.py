"""Control characters (escape sequences, a bell, a NUL) never get into the roster: the API, the bulk CSV
and the lookups refuse them with a clear 422 and store nothing."""
from __future__ import annotations

import pytest

from .conftest import NIPS, Env

BAD = ["Budi\x1b[31m Santoso", "Budi\x07", "Bu\x00di", "Budi\x7f", "Budi\x85x"]


@pytest.mark.parametrize("name", BAD)
def test_api_refuses_control_characters_in_names(env: Env, hr: dict, name: str) -> None:
    admin = env.token("admin")
    before = env.counts()
    for path, body, headers in (
            ("/api/v1/employees", {"nip": NIPS[0], "name": name, "office_code": "BKPSDM"}, hr),
            ("/api/v1/employees", {"nip": NIPS[0], "name": "Budi", "position": name, "office_code": "BKPSDM"}, hr),
            ("/api/v1/employees", {"nip": NIPS[0], "name": "Budi", "office_code": "BK" + name}, hr),
            ("/api/v1/offices", {"code": "X1", "name": name}, hr),
            ("/api/v1/users", {"username": name, "password": "long enough pw", "role": "hr"}, admin)):
        r = env.client.post(path, json=body, headers=headers)
        assert r.status_code == 422, (path, body, r.text)
        assert "control character" in r.json()["detail"]["message"]
    r = env.client.get("/api/v1/employees", params={"q": name}, headers=hr)
    assert r.status_code == 422, r.text
    assert env.counts() == before


def test_bulk_csv_refuses_control_characters_per_line(env: Env, hr: dict) -> None:
    before = env.counts()
    roster = ("nip;nama;kode_opd;jabatan\n"
              f"{NIPS[0]};Ayu;BKPSDM;Staf\n"
              f"{NIPS[1]};Budi\x1b[2J;BKPSDM;Staf\n"
              f"{NIPS[2]};Citra;BKPSDM;Kepala\x07Seksi\n").encode()
    r = env.client.post("/api/v1/enrolment/bulk", files={"roster": ("roster.csv", roster, "text/csv")}, headers=hr)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]["details"]["errors"]
    assert errors == ["line 3: name contains a control character (U+001B); remove it",
                      "line 4: position contains a control character (U+0007); remove it"]
    assert env.counts() == before
