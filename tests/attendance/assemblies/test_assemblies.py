"""Scheduling, starting, ending apels; join tokens; only leaders/admins may run an apel."""
from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from attendance.assemblies.lifecycle import (
    create_assembly,
    end_assembly,
    issue_office_token,
    mark_office_joined,
    start_assembly,
    token_digest,
    verify_office_token,
)
from attendance.audit import verify_chain
from attendance.db.unit_of_work import committed
from attendance.errors import Conflict, Forbidden, Invalid
from attendance.models import AssemblyOffice, AttendanceRecord, AuditEntry

from .conftest import T0, World


def _apel(session, w: World, **kw):
    args = dict(actor=w.users["leader"], kind="pagi", title="Apel pagi", scheduled_start=T0,
                office_ids=[o.id for o in w.offices.values()])
    args.update(kw)
    return committed(create_assembly)(session, **args)


def test_lifecycle_and_audit(session, world: World) -> None:
    a = _apel(session, world)
    assert a.status == "scheduled" and a.ruleset.name == "default" and len(a.offices) == 3
    assert all(ao.scheduled_start == T0 for ao in a.offices)
    committed(start_assembly)(session, a.id, actor=world.users["leader"])
    assert a.status == "open" and a.started_by_id == world.users["leader"].id
    committed(end_assembly)(session, a.id, actor=world.users["admin"])
    assert a.status == "closed" and a.ended_by_id == world.users["admin"].id
    # Everyone on the roster has a record: nobody was seen, so all TK.
    recs = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id)).scalars().all()
    assert len(recs) == 9 and {r.status for r in recs} == {"tk"}
    actions = session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    assert actions == ["assembly.create", "assembly.start", "assembly.end", "apel.records_sealed"]
    assert verify_chain(session).ok
    # A closed apel cannot be reopened; ending again changes nothing.
    with pytest.raises(Conflict) as refused:
        committed(start_assembly)(session, a.id, actor=world.users["leader"])
    assert refused.value.code == "wrong_state"
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    assert session.execute(select(func.count()).select_from(AuditEntry)).scalar() == 4   # nothing new


@pytest.mark.parametrize("role", ["hr", "operator", "observer"])
def test_only_leaders_and_admins_run_apels(session, world: World, role: str) -> None:
    with pytest.raises(Forbidden):
        _apel(session, world, actor=world.users[role])
    a = _apel(session, world)
    with pytest.raises(Forbidden):
        committed(start_assembly)(session, a.id, actor=world.users[role])
    committed(start_assembly)(session, a.id, actor=world.users["leader"])
    with pytest.raises(Forbidden):
        committed(end_assembly)(session, a.id, actor=world.users[role])
    with pytest.raises(Forbidden):
        committed(issue_office_token)(session, a.id, world.offices["JKT"].id, actor=world.users[role], ttl_minutes=60)
    assert a.status == "open"


def test_bad_input_is_refused(session, world: World) -> None:
    from datetime import datetime

    with pytest.raises(Invalid):
        _apel(session, world, kind="festival")
    with pytest.raises(Invalid):
        _apel(session, world, office_ids=[])
    with pytest.raises(Invalid):
        _apel(session, world, office_ids=[99999])
    with pytest.raises(Invalid):
        _apel(session, world, scheduled_start=datetime(2026, 11, 30, 7, 30))   # naive
    with pytest.raises(Invalid):
        _apel(session, world, title="  ")
    a = _apel(session, world)
    with pytest.raises(Conflict) as refused:
        committed(end_assembly)(session, a.id, actor=world.users["leader"])   # never started
    assert refused.value.code == "wrong_state"


def test_local_schedule_per_office_zone(session, world: World) -> None:
    a = _apel(session, world, scheduled_start=None, local_date=date(2026, 11, 30), local_time=time(7, 30))
    starts = {ao.office.code: ao.scheduled_start for ao in a.offices}
    assert starts["JKT"] == T0                         # 07:30 WIB = 00:30 UTC
    assert starts["BALI"] == T0 - timedelta(hours=1)   # 07:30 WITA
    assert starts["PAPUA"] == T0 - timedelta(hours=2)  # 07:30 WIT
    assert a.scheduled_start == starts["PAPUA"]


def test_tokens(session, world: World) -> None:
    a = _apel(session, world)
    jkt, bali = world.offices["JKT"], world.offices["BALI"]
    token = committed(issue_office_token)(session, a.id, jkt.id, actor=world.users["leader"], ttl_minutes=30)
    ao = session.execute(select(AssemblyOffice).where(AssemblyOffice.assembly_id == a.id,
                                                      AssemblyOffice.office_id == jkt.id)).scalar_one()
    assert ao.token_hash == token_digest(token) and token not in ao.token_hash   # only the hash is stored
    # Not open yet: refused.
    assert verify_office_token(session, "JKT", token) is None
    committed(start_assembly)(session, a.id, actor=world.users["leader"])
    ok = verify_office_token(session, "JKT", token)
    assert ok is not None and ok.office_id == jkt.id and ok.assembly_id == a.id
    # Wrong token, wrong office, empty: refused.
    assert verify_office_token(session, "JKT", token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert verify_office_token(session, "BALI", token) is None
    assert verify_office_token(session, "JKT", "") is None
    # Expired: refused.
    assert verify_office_token(session, "JKT", token, now=ao.token_expires_at + timedelta(seconds=1)) is None
    # Re-issuing replaces the old token.
    token2 = committed(issue_office_token)(session, a.id, jkt.id, actor=world.users["leader"], ttl_minutes=30)
    assert verify_office_token(session, "JKT", token) is None
    assert verify_office_token(session, "JKT", token2) is not None
    # Closed apel: refused, and no new tokens.
    tb = committed(issue_office_token)(session, a.id, bali.id, actor=world.users["admin"], ttl_minutes=30)
    committed(mark_office_joined)(session, ok.id)
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    assert verify_office_token(session, "JKT", token2) is None
    assert verify_office_token(session, "BALI", tb) is None
    with pytest.raises(Conflict) as refused:
        committed(issue_office_token)(session, a.id, jkt.id, actor=world.users["leader"], ttl_minutes=30)
    assert refused.value.code == "wrong_state"
    with pytest.raises(Invalid):
        committed(issue_office_token)(
            session, _apel(session, world).id, jkt.id, actor=world.users["leader"], ttl_minutes=0)
    logged = str(session.execute(select(AuditEntry.after)).scalars().all())
    assert token not in logged and token2 not in logged   # the audit log never holds a token
