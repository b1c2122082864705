"""Input the database cannot take is refused at the edge with the one error body, never a 500: ids out of
the database's integer range, a time without a zone, a control character in a login name."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attendance.roster.conftest import PASSWORD, Env, make_env

TOO_BIG = [2**31, 2**63, 10**30]   # PostgreSQL's integer ends at 2**31 - 1, SQLite's at 2**63 - 1


@pytest.fixture
def env(db_url: str, settings_factory) -> Iterator[Env]:
    yield from make_env(db_url, settings_factory, None)   # type: ignore[arg-type]  # no photos analysed here


def _refused(r, status: int = 422) -> dict:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail["code"] and detail["message"]
    return detail


@pytest.mark.parametrize("big", TOO_BIG)
def test_ids_beyond_the_integer_range_are_422(env: Env, big: int) -> None:
    admin = env.token("admin")
    before = env.counts()
    for path in (f"/api/v1/offices/{big}", f"/api/v1/employees/{big}", f"/api/v1/assemblies/{big}",
                 f"/api/v1/records/{big}", "/api/v1/offices/0",
                 f"/api/v1/assemblies?office_id={big}", f"/api/v1/employees?office_id={big}"):
        detail = _refused(env.client.get(path, headers=admin))
        assert detail["code"] == "invalid_request", path
    _refused(env.client.patch(f"/api/v1/offices/{big}", json={"name": "X"}, headers=admin))
    _refused(env.client.delete(f"/api/v1/employees/{big}", headers=admin))
    _refused(env.client.post("/api/v1/employees", headers=admin,
                             json={"nip": "198503122010011001", "name": "Made", "office_id": big}))
    assert env.counts() == before
    # Pages: a filter out of range is no filter, an id in the path a 422.
    env.login("admin")
    assert env.client.get(f"/employees?office_id={2**31}").status_code == 200
    assert env.client.get(f"/reports/recap?month=2026-01&office_id={2**31}").status_code == 200
    assert env.client.get(f"/apel?office_id={2**31}").status_code == 200
    assert env.client.get(f"/employees/{big}", headers={"accept": "text/html"}).status_code == 422


def test_largest_id_is_a_plain_not_found(env: Env) -> None:
    r = env.client.get(f"/api/v1/offices/{2**31 - 1}", headers=env.token("admin"))
    assert _refused(r, 404)["code"] == "office_not_found"


def test_since_without_a_zone_is_422(env: Env) -> None:
    """A time without a zone is refused rather than guessed: offices span three zones (WIB, WITA, WIT)."""
    admin = env.token("admin")
    for q in ("since=2026-01-01T00:00:00", "until=2026-01-01T00:00:00"):
        detail = _refused(env.client.get(f"/api/v1/assemblies?{q}", headers=admin))
        assert "timezone" in detail["message"]
    r = env.client.get("/api/v1/assemblies?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00%2B07:00",
                       headers=admin)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("username", ["ad\x00min", "admin\x1b", "\x07"])
def test_control_character_in_login_name_is_bad_credentials(env: Env, username: str) -> None:
    r = env.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert _refused(r, 401)["code"] == "bad_credentials"
    page = env.client.post("/login", data={"username": username, "password": PASSWORD})
    assert page.status_code < 500
