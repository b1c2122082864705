"""The roster an office's live pipeline recognises against: its active staff's face templates, as
vision's RosterPerson values. Read once when the office joins an apel."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance.models import Employee, FaceTemplate
from attendance.vision.types import RosterPerson


class OfficeRoster(NamedTuple):
    people: list[RosterPerson]
    names: dict[str, str]        # person id (str(employee id)) -> name, for the leader's overlays


def roster_for_office(session: Session, office_id: int, backend: str) -> OfficeRoster:
    """The office's active staff with templates of `backend` (the live recogniser's: templates made by
    another recogniser are not comparable); people without one are left out."""
    rows = session.execute(
        select(Employee.id, Employee.name, FaceTemplate.embedding, FaceTemplate.kind)
        .join(FaceTemplate, FaceTemplate.employee_id == Employee.id)
        .where(Employee.office_id == office_id, Employee.active.is_(True), FaceTemplate.backend == backend)
        .order_by(Employee.id, FaceTemplate.id)).all()
    by_emp: dict[int, tuple[str, list[NDArray[np.float32]], list[str]]] = {}
    for emp_id, name, emb, kind in rows:
        entry = by_emp.setdefault(emp_id, (name, [], []))
        entry[1].append(np.frombuffer(emb, dtype="<f4"))
        entry[2].append(kind)
    people = [RosterPerson(person_id=str(emp_id), embeddings=np.stack(embs).astype(np.float32), kinds=tuple(kinds))
              for emp_id, (_, embs, kinds) in by_emp.items()]
    return OfficeRoster(people, {str(emp_id): name for emp_id, (name, _, _) in by_emp.items()})
