"""Each person's face geometry as the office cameras learn it, roll-call by roll-call
(attendance.vision.geometry.face_geometry says why and how): stored, read back for the live pipeline,
erased with the person's face data.

An apel teaches each person at most once (`last_assembly_id`): a service restarted during the
apel, or an office that rejoins, does not count the same roll-call twice. What a roll-call taught
is kept in memory until the apel closes (`LiveService.close_assembly`) or the service stops
(`LiveService.stop`, which stores it then); so only a crash (the process killed) during an apel
loses that apel's lesson, and nothing else: the attendance itself never depends on it."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance import audit
from attendance.models import FaceTemplate, LearnedFaceGeometry
from attendance.roster.common import actor_name
from attendance.roster.employees import get_employee
from attendance.vision.geometry.face_geometry import GeometrySamples, geometry, session_sample
from attendance.vision.types import FaceGeometry

LEARN_ACTOR = "system:vision"


def _samples(row: LearnedFaceGeometry) -> GeometrySamples:
    return GeometrySamples(row.ipd_sessions, row.ipd_sum_m, row.eye_sessions, row.eye_sum_m)


def _roll_calls(row: LearnedFaceGeometry) -> int:
    """How many roll-calls taught the person (each taught the IPD, the eye height or both)."""
    return max(row.ipd_sessions, row.eye_sessions)


def load_geometry(session: Session, employee_ids: Iterable[int]) -> dict[str, FaceGeometry]:
    """person id (as the vision roster names them: str(employee id)) -> learned geometry, for the
    people of `employee_ids` that some roll-call has measured."""
    ids = list(employee_ids)
    if not ids:
        return {}
    rows = session.execute(select(LearnedFaceGeometry).where(LearnedFaceGeometry.employee_id.in_(ids))).scalars()
    out = {}
    for row in rows:
        g = geometry(_samples(row))
        if g is not None:
            out[str(row.employee_id)] = g
    return out


def learn_from_apel(session: Session, assembly_id: int,
                    frames_by_employee: Mapping[int, Iterable[tuple[float | None, float | None]]]) -> int:
    """Add one roll-call's measurements (per person: their per-frame (IPD, eye offset) samples)
    to what is stored; returns how many people it taught. A person this apel already taught, or
    whose frames hold no plausible sample, is left as is; so is a person with no face templates
    (erased while the apel ran: nothing of their face may be kept). Audited as one entry per apel."""
    taught = []
    enrolled = set(session.execute(select(FaceTemplate.employee_id).distinct()
                                   .where(FaceTemplate.employee_id.in_(list(frames_by_employee)))).scalars())
    for emp_id, frames in sorted(frames_by_employee.items()):
        if emp_id not in enrolled:
            continue
        ipd, eye = session_sample(frames)
        if ipd is None and eye is None:
            continue
        row = session.get(LearnedFaceGeometry, emp_id)
        if row is None:
            row = LearnedFaceGeometry(employee_id=emp_id, ipd_sessions=0, ipd_sum_m=0.0, eye_sessions=0, eye_sum_m=0.0)
            session.add(row)
        elif row.last_assembly_id == assembly_id:
            continue
        s = _samples(row).add(ipd, eye)
        row.ipd_sessions, row.ipd_sum_m, row.eye_sessions, row.eye_sum_m = (s.ipd_sessions, s.ipd_sum_m,
                                                                            s.eye_sessions, s.eye_sum_m)
        row.last_assembly_id = assembly_id
        taught.append(emp_id)
    if taught:
        session.flush()
        audit.record(session, actor=LEARN_ACTOR, action="face_geometry.learn", entity="assembly", entity_id=assembly_id,
                     after={"employees": taught})
    return len(taught)


def erase_geometry(session: Session, employee_id: int) -> int:
    """Delete what was learned of one person (with their face templates: the right to erasure).
    Returns the number of roll-calls it had counted (0: nothing was stored)."""
    row = session.get(LearnedFaceGeometry, employee_id)
    if row is None:
        return 0
    n = _roll_calls(row)
    session.delete(row)
    session.flush()
    return n


def learned_roll_calls(session: Session, employee_id: int) -> int:
    """What HR sees of it on the person's page: how many roll-calls taught it (0: nothing
    learned). The values themselves are in the person's export."""
    row = session.get(LearnedFaceGeometry, employee_id)
    return 0 if row is None else _roll_calls(row)


def forget_geometry(session: Session, employee_id: int, *, actor: Any, reason: str | None = None) -> int:
    """HR starts a person's learned geometry afresh and keeps their face templates: the remedy when
    the camera named someone else as them (HR corrected it in review), which taught them a wrong
    sample. Returns the number of roll-calls forgotten; audited when there was something to forget."""
    emp = get_employee(session, employee_id)
    n = erase_geometry(session, emp.id)
    if n:
        audit.record(session, actor=actor_name(actor), action="face_geometry.forget", entity="employee",
                     entity_id=emp.id, before={"nip": emp.nip, "learned_geometry_roll_calls": n},
                     after={"learned_geometry_roll_calls": 0}, reason=reason)
    return n
