"""A person's rights over their data (UU PDP): everything stored about them, and erasure of their face data."""
from __future__ import annotations

import base64
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from attendance import audit
from attendance.models import AuditEntry, Base, FaceTemplate
from attendance.roster.common import actor_name
from attendance.roster.employees import employee_dict, get_employee
from attendance.roster.learned_geometry import erase_geometry
from attendance.roster.templates import template_dict


def erase_templates(session: Session, employee_id: int, *, actor: Any, reason: str | None = None) -> list[str]:
    """Delete every face template of one person, and what the cameras learned of their face (the
    right to erasure); returns kept photo paths."""
    emp = get_employee(session, employee_id)
    templates = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)).scalars().all()
    paths = [t.photo_path for t in templates if t.photo_path]
    counts: dict[str, int] = {}
    for t in templates:
        counts[t.kind] = counts.get(t.kind, 0) + 1
        session.delete(t)
    session.flush()
    # What the cameras learned of their face (IPD, eye height) is biometric data too.
    learned = erase_geometry(session, emp.id)
    before = {"nip": emp.nip, "templates": counts} | ({"learned_geometry_roll_calls": learned} if learned else {})
    audit.record(session, actor=actor_name(actor), action="employee.erase_templates", entity="employee",
                 entity_id=emp.id, before=before, after={"templates": {}}, reason=reason)
    return paths


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def export_person(session: Session, employee_id: int, *, actor: Any) -> dict[str, Any]:
    """Everything stored about one person: the employee row, face templates (with embeddings),
    every row of any table that references the employee (attendance and so on, whichever areas
    add them), kept photos, and the audit entries about them. The export itself is audited."""
    emp = get_employee(session, employee_id)
    out: dict[str, Any] = {"employee": {**employee_dict(emp), "office_code": emp.office.code,
                                        "created_at": _jsonable(emp.created_at),
                                        "updated_at": _jsonable(emp.updated_at)}}
    templates = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)
                                .order_by(FaceTemplate.id)).scalars().all()
    out["face_templates"] = [template_dict(t, with_embedding=True) for t in templates]
    photos = []
    for t in templates:
        if t.photo_path and Path(t.photo_path).is_file():
            photos.append({"template_id": t.id, "base64": base64.b64encode(Path(t.photo_path).read_bytes()).decode()})
    out["photos"] = photos
    # Tables other areas add (attendance, sightings, corrections...) are found by their foreign key,
    # reflected from the live database so migrations beyond this module's knowledge are included.
    reflected = MetaData()
    bind = session.get_bind()
    related: dict[str, list[dict[str, Any]]] = {}
    table_names = set(Base.metadata.tables)
    table_names |= set(sa_inspect(bind).get_table_names())
    for name in sorted(table_names - {"employees", "face_templates", "audit_log", "alembic_version"}):
        try:
            table = Table(name, reflected, autoload_with=bind)
        except Exception:  # a table we cannot reflect is skipped, not fatal
            continue
        refs = [c for c in table.columns
                if any(fk.column.table.name == "employees" for fk in c.foreign_keys)]
        if not refs:
            continue
        cond = refs[0] == emp.id
        for c in refs[1:]:
            cond = cond | (c == emp.id)
        rows = session.execute(select(table).where(cond)).mappings().all()
        if rows:
            related[name] = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
    out["related_records"] = related
    entries = session.execute(select(AuditEntry).where(AuditEntry.entity == "employee",
                                                       AuditEntry.entity_id == str(emp.id))
                              .order_by(AuditEntry.id)).scalars().all()
    out["audit"] = [{"at": _jsonable(a.at), "actor": a.actor, "action": a.action, "before": a.before,
                     "after": a.after, "reason": a.reason} for a in entries]
    audit.record(session, actor=actor_name(actor), action="employee.export", entity="employee",
                 entity_id=emp.id, after={"nip": emp.nip, "templates": len(templates)})
    return out
