"""Fixtures for the rules area: three offices in Indonesia's three time zones, their staff, and a
user of every role, on the real database of each kind (the `db_url` fixture)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attendance.db import make_session_factory
from attendance.models import Employee, Office, User


@dataclass
class World:
    offices: dict[str, Office]
    staff: dict[str, list[Employee]]
    users: dict[str, User]
    factory: sessionmaker
    ids: dict[str, int] = field(default_factory=dict)


def build_world(session: Session, factory: sessionmaker) -> World:
    offices = {
        "JKT": Office(code="JKT", name="Kantor Jakarta", timezone="Asia/Jakarta"),      # WIB, UTC+7
        "BALI": Office(code="BALI", name="Kantor Bali", timezone="Asia/Makassar"),      # WITA, UTC+8
        "PAPUA": Office(code="PAPUA", name="Kantor Papua", timezone="Asia/Jayapura"),   # WIT, UTC+9
    }
    session.add_all(offices.values())
    session.flush()
    staff: dict[str, list[Employee]] = {}
    n = 0
    for code, office in offices.items():
        staff[code] = []
        for i in range(3):
            n += 1
            e = Employee(nip=f"1990010120200{n:05d}", name=f"{code} Pegawai {i + 1}", office_id=office.id)
            session.add(e)
            staff[code].append(e)
    users = {}
    for role in ("admin", "hr", "leader", "observer"):
        users[role] = User(username=role, password_hash=f"x-{role}", role=role)
    users["hr2"] = User(username="hr2", password_hash="x-hr2", role="hr")
    users["operator"] = User(username="operator", password_hash="x-op", role="operator", office_id=offices["JKT"].id)
    session.add_all(users.values())
    session.commit()
    return World(offices, staff, users, factory)


@pytest.fixture
def factory(engine) -> sessionmaker:
    return make_session_factory(engine)


@pytest.fixture
def world(session: Session, factory: sessionmaker) -> World:
    return build_world(session, factory)


T0 = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)   # 07:30 WIB, 08:30 WITA, 09:30 WIT


def at(minutes: float = 0.0, seconds: float = 0.0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)
