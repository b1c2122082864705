"""Fixtures for the roster tests: an app on each real database, users of every role, logged-in
clients (cookie + CSRF, or bearer), one enrolment worker process shared by the whole session,
and helpers that count what is in the database (to prove that a rejected request wrote nothing)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from attendance.models import AuditEntry, Employee, FaceTemplate, Office, User
from attendance.roster.photos import EnrolmentWorkers

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def workers() -> Iterator[EnrolmentWorkers]:
    """dlib loads once per worker process; sharing one across tests keeps the suite fast."""
    w = EnrolmentWorkers(1)
    yield w
    w.close()


@dataclass
class Env:
    app: object
    client: TestClient
    offices: dict[str, int]
    users: dict[str, int]

    def counts(self) -> dict[str, int]:
        with self.app.state.session_factory() as s:  # type: ignore[attr-defined]
            return {name: s.execute(select(func.count()).select_from(model)).scalar_one()
                    for name, model in (("offices", Office), ("employees", Employee), ("templates", FaceTemplate),
                                        ("users", User), ("audit", AuditEntry))}

    def login(self, username: str, client: TestClient | None = None) -> str:
        """Cookie login; returns the CSRF token."""
        c = client or self.client
        r = c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["csrf_token"]

    def token(self, username: str) -> dict[str, str]:
        with TestClient(self.app) as c:  # separate client: no cookie shared with self.client
            r = c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def make_env(db_url: str, settings_factory, workers: EnrolmentWorkers, **overrides) -> Iterator[Env]:
    from app.web.app import create_app
    from attendance.roster.offices import create_office
    from attendance.roster.users import create_user

    app = create_app(settings_factory(db_url, **overrides), migrate=False)
    app.state.enrolment_workers = workers
    with app.state.session_factory() as s:
        a = create_office(s, actor="test", code="DISKOMINFOS", name="Dinas Kominfos")
        b = create_office(s, actor="test", code="BKPSDM", name="Badan Kepegawaian", timezone="Asia/Makassar")
        users = {}
        for name, role, office in (("admin", "admin", None), ("hr", "hr", None), ("leader", "leader", None),
                                   ("op", "operator", a.id), ("opb", "operator", b.id), ("obs", "observer", None)):
            users[name] = create_user(s, actor="test", username=name, password=PASSWORD, role=role, office_id=office).id
        s.commit()
        offices = {"DISKOMINFOS": a.id, "BKPSDM": b.id}
    with TestClient(app) as client:
        yield Env(app, client, offices, users)
    workers_now = getattr(app.state, "enrolment_workers", None)
    assert workers_now is None or workers_now is workers


@pytest.fixture
def env(db_url: str, settings_factory, workers) -> Iterator[Env]:
    yield from make_env(db_url, settings_factory, workers)


@pytest.fixture
def hr(env: Env) -> dict[str, str]:
    """Headers for HR over the cookie session (CSRF token included)."""
    return {"X-CSRF-Token": env.login("hr")}


@pytest.fixture
def faces(shared_data: Path) -> Path:
    return shared_data / "faces"


# Valid NIPs (birth date, appointment, gender digit and sequence all plausible).
NIPS = ["198503122010011001", "199001052015032002", "198711232011011002", "199204172019032001",
        "198009302006041005", "199406082020122003"]
