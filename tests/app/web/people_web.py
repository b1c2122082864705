"""An app on a real database with the reports' hand-checkable dataset (three offices, twelve people,
closed and open apels with records and sighting tracks), one open review item, and a user of every role;
clients logged in by bearer token."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import select

from attendance.models import ReviewItem, SightingTrack, User
from tests.attendance.reports.dataset import Dataset, seed

PASSWORD = "correct horse battery"
ROLES = {"admin": "admin", "hr": "hr", "leader": "leader", "obs": "observer", "opbkd": "operator"}


@dataclass
class Web:
    app: object
    ds: Dataset
    review_item: int
    client: TestClient

    def auth(self, username: str) -> dict[str, str]:
        r = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.client.cookies.clear()   # bearer only: no cookie carried into the next request
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def make_web(db_url: str, settings_factory, **overrides: object) -> Iterator[Web]:
    from app.web.app import create_app
    from attendance.roster.passwords import hash_password

    app = create_app(settings_factory(db_url, **overrides), migrate=False)
    pw = hash_password(PASSWORD)
    with app.state.session_factory() as s:
        ds = seed(s)
        for name, role in ROLES.items():
            s.add(User(username=name, password_hash=pw, role=role,
                       office_id=ds.offices["BKD"] if role == "operator" else None))
        track = s.execute(select(SightingTrack).where(SightingTrack.assembly_id == ds.apels["nov1"])
                          .order_by(SightingTrack.id)).scalars().first()
        assert track is not None
        item = ReviewItem(assembly_id=track.assembly_id, office_id=track.office_id, track_id=track.id, kind="unknown")
        s.add(item)
        s.commit()
        item_id = item.id
    with TestClient(app) as client:
        yield Web(app, ds, item_id, client)
    app.state.engine.dispose()
