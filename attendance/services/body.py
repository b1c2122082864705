"""Each person's own face geometry over apels (`attendance.vision.BodyPrior`), stored per employee.

The vision pipeline measures, for faces it names with confidence and that stand in a row, the
person's interpupillary distance and eye height (`FaceResult.body_obs`). The live service gathers
one apel's measurements per person in memory and, when the apel closes, hands them to
`record_apel`, which folds them into each person's row with `BodyPrior.updated` (one apel counts
once, whatever its length). `load_priors` gives them back for the next apel's roster.

Personal data (UU PDP): a measurement derived from the face. Only people who are active and still
have face templates get a row (an erasure during the apel is not undone by its close), the row goes
with the templates (`attendance.enrolment.erase_face_data`) and with the employee (ON DELETE
CASCADE)."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import BodyMeasure, Employee, FaceTemplate

if TYPE_CHECKING:   # importing attendance.vision loads dlib and OpenCV (most callers here never need them)
    from ..vision.results import BodyPrior


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _null(value: float) -> float | None:
    """NaN (not measured) is stored as NULL: SQLite cannot keep a NaN, and JSON exports cannot carry one."""
    return float(value) if math.isfinite(value) else None


def prior_of(row: BodyMeasure | None) -> BodyPrior:
    """The stored row as a BodyPrior (an unmeasured one for None)."""
    from ..vision.results import BodyPrior

    if row is None:
        return BodyPrior()
    return BodyPrior(ipd_m=_nan(row.ipd_m), ipd_apels=int(row.ipd_apels or 0),
                     head_dh_m=_nan(row.head_dh_m), head_apels=int(row.head_apels or 0))


def load_priors(session: Session, employee_ids: Iterable[int]) -> dict[int, BodyPrior]:
    """employee id -> BodyPrior for those of `employee_ids` with a stored row (others are absent)."""
    ids = sorted({int(i) for i in employee_ids})
    out: dict[int, BodyPrior] = {}
    for start in range(0, len(ids), 500):   # keep IN lists short (SQLite's variable limit)
        rows = session.execute(select(BodyMeasure).where(BodyMeasure.employee_id.in_(ids[start:start + 500])))
        for row in rows.scalars():
            out[row.employee_id] = prior_of(row)
    return out


def _eligible(session: Session, ids: list[int]) -> set[int]:
    """Of `ids`, the employees who exist, are active and still have at least one face template."""
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found |= set(session.execute(
            select(Employee.id).where(Employee.id.in_(chunk), Employee.active.is_(True),
                                      select(FaceTemplate.id).where(FaceTemplate.employee_id == Employee.id)
                                      .exists())).scalars())
    return found


def _record_once(session: Session, todo: dict[int, list[tuple[float, float]]]) -> dict[int, BodyPrior]:
    ids = sorted(todo)
    eligible = _eligible(session, ids)
    if not eligible:
        return {}
    rows = {r.employee_id: r for r in session.execute(
        select(BodyMeasure).where(BodyMeasure.employee_id.in_(sorted(eligible)))).scalars()}
    out: dict[int, BodyPrior] = {}
    for emp_id in sorted(eligible):
        row = rows.get(emp_id)
        before = prior_of(row)
        after = before.updated(todo[emp_id])
        if after.ipd_apels == before.ipd_apels and after.head_apels == before.head_apels:
            continue   # nothing finite measured this apel: no row to create or touch
        if row is None:
            row = BodyMeasure(employee_id=emp_id)
            session.add(row)
        row.ipd_m, row.ipd_apels = _null(after.ipd_m), after.ipd_apels
        row.head_dh_m, row.head_apels = _null(after.head_dh_m), after.head_apels
        out[emp_id] = after
    session.flush()
    return out


def record_apel(session: Session, observations: Mapping[int, Sequence[tuple[float, float]]]) -> dict[int, BodyPrior]:
    """Fold one apel's measurements into each person's stored prior and commit, all in one transaction.

    `observations`: employee id -> that apel's per-frame (ipd_m, head_dh_m), NaN where a frame did
    not measure one. Empty lists, lists with nothing finite, unknown ids, inactive employees and
    employees without face templates are skipped. Returns the new priors of the rows written.
    Call it once per apel: each call counts as one more apel."""
    todo: dict[int, list[tuple[float, float]]] = {}
    for emp_id, frames in observations.items():
        pairs = [(float(a), float(b)) for a, b in frames]
        if pairs:
            todo[int(emp_id)] = pairs
    if not todo:
        return {}
    for attempt in range(3):
        try:
            out = _record_once(session, todo)
            session.commit()
            return out
        except IntegrityError:
            # Another writer created the same person's row first: nothing of ours was kept; redo
            # from the fresh state (the other apel's measurement is then included, not overwritten).
            session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
