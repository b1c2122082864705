"""Accounts whose password hash was made with other argon2 parameters (argon2-cffi's defaults, used before)
move to ours at their next successful login, silently and audited; a wrong password changes nothing.
Real app, real database of each kind, real argon2."""
from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.web.app import create_app
from attendance.audit import verify_chain
from attendance.models import AuditEntry, User
from attendance.roster import passwords
from attendance.roster.users import create_user, upgrade_password_hash

PASSWORD = "correct horse battery"
OLD = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)   # argon2-cffi 25.1's defaults


def _params(password_hash: str) -> tuple[int, int, int]:
    p = extract_parameters(password_hash)
    return p.memory_cost, p.time_cost, p.parallelism


def _stored(app, username: str) -> str:
    with app.state.session_factory() as s:
        return s.execute(select(User.password_hash).where(User.username == username)).scalar_one()


def _rehash_entries(app) -> list[AuditEntry]:
    with app.state.session_factory() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == "user.password_rehash")).scalars())


def test_the_hashing_parameters_are_owasps() -> None:
    assert _params(passwords.hash_password(PASSWORD)) == (19 * 1024, 2, 1)
    assert extract_parameters(passwords.hash_password(PASSWORD)).type.name == "ID"
    assert passwords.needs_rehash(OLD.hash(PASSWORD))
    assert not passwords.needs_rehash(passwords.hash_password(PASSWORD))
    ok, new = passwords.verify_and_update(OLD.hash(PASSWORD), PASSWORD)
    assert ok and new is not None and _params(new) == (19 * 1024, 2, 1) and passwords.verify_password(new, PASSWORD)
    assert passwords.verify_and_update(OLD.hash(PASSWORD), "wrong password") == (False, None)
    assert passwords.verify_and_update(passwords.hash_password(PASSWORD), PASSWORD) == (True, None)


def test_an_old_hash_moves_to_the_new_parameters_at_login(db_url: str, settings_factory) -> None:
    app = create_app(settings_factory(db_url), migrate=False)
    with app.state.session_factory() as s:
        user = create_user(s, actor="test", username="lama", password=PASSWORD, role="hr")
        user.password_hash = OLD.hash(PASSWORD)   # as stored before the parameters changed
        s.commit()
    old = _stored(app, "lama")
    assert _params(old) == (65536, 3, 4)
    with TestClient(app) as client:
        wrong = client.post("/api/v1/auth/login", json={"username": "lama", "password": "wrong password"})
        assert wrong.status_code == 401, wrong.text
        assert _stored(app, "lama") == old and not _rehash_entries(app)

        r = client.post("/api/v1/auth/login", json={"username": "lama", "password": PASSWORD})
        assert r.status_code == 200, r.text
        new = _stored(app, "lama")
        assert new != old and _params(new) == (19 * 1024, 2, 1) and passwords.verify_password(new, PASSWORD)
        entries = _rehash_entries(app)
        assert [(e.actor, e.entity_id, e.before, e.after) for e in entries] == [
            ("lama", str(user.id), {"hash_parameters": "argon2id m=65536,t=3,p=4"},
             {"hash_parameters": "argon2id m=19456,t=2,p=1"})]
        # The token issued at that login carries the stored hash's fingerprint: it works.
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert me.status_code == 200, me.text

        # Once moved, a login changes nothing more; a wrong password is still refused.
        assert client.post("/api/v1/auth/login", json={"username": "lama", "password": PASSWORD}).status_code == 200
        assert client.post("/api/v1/auth/login",
                           json={"username": "lama", "password": "wrong password"}).status_code == 401
        assert _stored(app, "lama") == new and len(_rehash_entries(app)) == 1
    with app.state.session_factory() as s:
        assert verify_chain(s).ok
    app.state.engine.dispose()


def test_a_rehash_never_overwrites_a_hash_changed_meanwhile(db_url: str, settings_factory) -> None:
    """Two logins at once both rehash; a password change can land between a check and its rehash: the
    store only replaces the hash that was checked."""
    app = create_app(settings_factory(db_url), migrate=False)
    with app.state.session_factory() as s:
        user = create_user(s, actor="test", username="lama", password=PASSWORD, role="hr")
        s.commit()
        current = user.password_hash
        assert not upgrade_password_hash(s, user.id, OLD.hash(PASSWORD), passwords.hash_password(PASSWORD))
        s.commit()
    assert _stored(app, "lama") == current and not _rehash_entries(app)
    app.state.engine.dispose()
