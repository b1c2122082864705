"""What the browser tests start from: one office, its staff's accounts and an apel that is open, the
way an installation has them on the morning of an apel (made through the product's own use cases)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class OpenApel:
    office_id: int
    assembly_id: int
    users: dict[str, int]     # username -> user id ("hr", "leader", "operator" when asked for)


def open_apel(db: Session, *, operator: bool = False, code: str = "BKPSDM",
              name: str = "Badan Kepegawaian") -> OpenApel:
    """An office, the accounts `hr` and `leader` (and `operator`, of that office) with PASSWORD, and an apel
    of that office scheduled in 30 minutes and already started by the leader."""
    from attendance.assemblies.lifecycle import create_assembly, start_assembly
    from attendance.db.unit_of_work import committed
    from attendance.roster.offices import create_office
    from attendance.roster.users import create_user

    office = create_office(db, actor="test", code=code, name=name)
    users = {"hr": create_user(db, actor="test", username="hr", password=PASSWORD, role="hr"),
             "leader": create_user(db, actor="test", username="leader", password=PASSWORD, role="leader")}
    if operator:
        users["operator"] = create_user(db, actor="test", username="operator", password=PASSWORD,
                                        role="operator", office_id=office.id)
    db.commit()
    a = committed(create_assembly)(db, actor=users["leader"], kind="pagi", title="Apel pagi",
                                   scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                   office_ids=[office.id], ruleset_name="default")
    committed(start_assembly)(db, a.id, actor=users["leader"])
    return OpenApel(office.id, a.id, {k: u.id for k, u in users.items()})
