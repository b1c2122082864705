"""Migration 0003 (the recap's covering index) goes up and down on both databases."""
from __future__ import annotations

from sqlalchemy import inspect

from attendance.db import make_engine
from attendance.db.migrate import downgrade, upgrade


def _indexes(url: str) -> set[str]:
    eng = make_engine(url)
    try:
        return {ix["name"] for ix in inspect(eng).get_indexes("attendance_records")}
    finally:
        eng.dispose()


def test_recap_index_up_and_down(db_url):
    assert "ix_attendance_records_recap" in _indexes(db_url)
    downgrade(db_url, "0002")
    assert "ix_attendance_records_recap" not in _indexes(db_url)
    upgrade(db_url)
    assert "ix_attendance_records_recap" in _indexes(db_url)
