"""The monthly recap counts the days marked present by hand (assemblies.present_by_hand) per employee
and office, and tells HR who marked how many, on both databases: marks made in a running apel that
then ends, an undone mark not counted, a mark HR later overturned out of the day count but still in
the operator's; the exports (CSV, XLSX, PDF) carry the column and, for HR, the operator table."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance.assemblies.corrections import correct_record
from attendance.assemblies.lifecycle import end_assembly
from attendance.assemblies.present_by_hand import mark_present_by_hand, undo_present_by_hand
from attendance.db.unit_of_work import committed
from attendance.models import AttendanceRecord, User
from attendance.reports.publish import export_recap
from attendance.reports.recap import monthly_recap

from .dataset import Dataset

TZ = "Asia/Makassar"


def _user(session: Session, name: str, role: str, office_id: int | None = None) -> User:
    """The web tests' users where they exist (same names, roles and offices)."""
    u = session.execute(select(User).where(User.username == name)).scalar_one_or_none()
    if u is None:
        u = User(username=name, password_hash="x", role=role, office_id=office_id)
        session.add(u)
        session.commit()
    assert (u.role, u.office_id) == (role, office_id)
    return u


def mark_the_open_apel(session: Session, ds: Dataset) -> None:
    """In the dataset's open November apel: BKD's operator marks Bagus (2) and Dewa (4), marks Citra (3)
    and takes it back; DKI's operator marks Joko (11), the leader Komang (12); the apel ends; HR then
    corrects Joko to TK (the camera-less mark overturned)."""
    a, e = ds.apels["open"], ds.employees
    opbkd = _user(session, "opbkd", "operator", ds.offices["BKD"])
    opdki = _user(session, "opdki", "operator", ds.offices["DKI"])
    leader, hr = _user(session, "leader", "leader"), _user(session, "hr", "hr")
    mark = committed(mark_present_by_hand)
    for who, emp in ((opbkd, 2), (opbkd, 3), (opbkd, 4), (opdki, 11), (leader, 12)):
        assert mark(session, a, e[emp], actor=who).status in ("present", "late")
    assert committed(undo_present_by_hand)(session, a, e[3], actor=opbkd) is None
    committed(end_assembly)(session, a, actor=leader)
    joko = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a,
                                                          AttendanceRecord.employee_id == e[11])).scalar_one()
    committed(correct_record)(session, joko.id, actor=hr, expected_version=joko.version, status="tk",
                              reason="tidak hadir, dicek BKD")


def test_hand_marked_days_per_employee_office_and_operator(session: Session, ds: Dataset) -> None:
    before = monthly_recap(session, "2026-11", tz=TZ, with_operators=True)
    assert before.total.by_hand == 0 and before.hand_operators == []
    mark_the_open_apel(session, ds)
    rc = monthly_recap(session, "2026-11", tz=TZ, with_operators=True)
    by_name = {x.name: x.counts for x in rc.employees}
    # Bagus, Dewa, Komang: one each; Citra's mark was undone; Joko's was overturned by HR (TK)
    assert {n: c.by_hand for n, c in by_name.items() if c.by_hand} == {
        "Bagus Pratama": 1, "Dewa Made": 1, "Komang Ayu": 1}
    assert by_name["Joko Santoso"].tk == 2 and by_name["Citra Dewi"].tk == 1   # nov1 TK; the open apel TK
    for c in by_name.values():
        assert c.by_hand <= c.attended
    offices = {o.code: o.counts.by_hand for o in rc.offices}
    assert offices == {"BKD": 2, "DINKES": 0, "DKI": 1} and rc.total.by_hand == 3
    # the operator table counts every mark standing at the end, Joko's too: most marks first
    assert [(m.operator, m.office_code, m.marks, m.people, m.apels) for m in rc.hand_operators or []] == [
        ("opbkd", "BKD", 2, 2, 1), ("leader", "DKI", 1, 1, 1), ("opdki", "DKI", 1, 1, 1)]

    d = rc.as_dict()
    assert d["total"]["by_hand"] == 3 and d["hand_by_operator"][0] == {
        "operator": "opbkd", "office_id": ds.offices["BKD"], "office_code": "BKD",
        "office_name": "Badan Kepegawaian Daerah", "marks": 2, "people": 2, "apels": 1}
    assert "hand_by_operator" not in monthly_recap(session, "2026-11", tz=TZ).as_dict()

    figures_only = monthly_recap(session, "2026-11", tz=TZ, with_employees=False)
    assert {o.code: o.counts.by_hand for o in figures_only.offices} == offices
    bkd = monthly_recap(session, "2026-11", tz=TZ, office_ids=[ds.offices["BKD"]], with_operators=True)
    assert bkd.total.by_hand == 2 and [m.operator for m in bkd.hand_operators or []] == ["opbkd"]
    # another month: none of it
    assert monthly_recap(session, "2026-12", tz=TZ, with_operators=True).hand_operators == []


def test_exports_carry_the_column_and_the_operator_table(session: Session, ds: Dataset, signer) -> None:
    mark_the_open_apel(session, ds)
    exp = export_recap(session, "2026-11", fmt="csv", lang="en", signer=signer, actor="t", tz=TZ, with_operators=True)
    rows = list(csv.reader(io.StringIO(exp.data.decode("utf-8-sig"))))
    header = next(r for r in rows if r[:3] == ["No", "NIP", "Name"])
    col = header.index("Present without camera")
    assert header[col + 1] == "Reason"   # the count columns before it keep their places
    assert next(r for r in rows if "Bagus Pratama" in r)[col] == "1"
    assert next(r for r in rows if "Joko Santoso" in r)[col] == "0"
    office_header = next(r for r in rows if r[:3] == ["No", "Code", "Office"])
    assert next(r for r in rows if r[:1] == [""] and "TOTAL" in r)[office_header.index("Present without camera")] == "3"
    assert "Marked present by hand, per operator" in [r[0] for r in rows if r]
    assert next(r for r in rows if "opbkd" in r)[1:] == ["opbkd", "BKD", "Badan Kepegawaian Daerah", "2", "2", "1"]

    plain = export_recap(session, "2026-11", fmt="csv", lang="en", signer=signer, actor="t", tz=TZ)
    assert "opbkd" not in plain.data.decode("utf-8-sig")   # the operator table only when asked for

    xl = export_recap(session, "2026-11", fmt="xlsx", lang="id", signer=signer, actor="t", tz=TZ, with_operators=True)
    wb = load_workbook(io.BytesIO(xl.data))
    assert [ws.title for ws in wb.worksheets][2] == "Tanpa kamera per operator"
    emp = [[c.value for c in r] for r in wb.worksheets[1].iter_rows()]
    head = next(r for r in emp if r[:3] == ["No", "NIP", "Nama"])
    assert next(r for r in emp if "Dewa Made" in r)[head.index("Hadir tanpa kamera")] == 1
    ops = [[c.value for c in r] for r in wb.worksheets[2].iter_rows()]
    assert ["opdki", "DKI"] in [r[1:3] for r in ops]

    pdf = export_recap(session, "2026-11", fmt="pdf", lang="id", signer=signer, actor="t", tz=TZ, with_operators=True)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Ditandai hadir tanpa kamera, per operator" in text and "opbkd" in text
