"""Migration 0002 goes up and down on both databases, seeds the default rule set, and matches the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from attendance.db import make_engine, make_session_factory
from attendance.db.migrate import downgrade, upgrade
from attendance.models import Base, RuleSet

MY_TABLES = {"rule_sets", "assemblies", "assembly_offices", "attendance_records", "sighting_tracks",
             "review_items", "corrections"}


def _tables(url: str) -> set[str]:
    eng = make_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_up_down_up(db_url: str) -> None:
    assert MY_TABLES <= _tables(db_url)
    downgrade(db_url, "0001")
    left = _tables(db_url)
    assert not (MY_TABLES & left)
    assert {"offices", "employees", "users", "audit_log"} <= left
    upgrade(db_url)
    assert MY_TABLES <= _tables(db_url)


def test_default_ruleset_seeded(db_url: str) -> None:
    eng = make_engine(db_url)
    with make_session_factory(eng)() as s:
        rs = s.execute(select(RuleSet)).scalars().all()
    eng.dispose()
    assert len(rs) == 1
    r = rs[0]
    assert (r.name, r.version, r.grace_minutes, r.tl1_max_minutes, r.tl2_max_minutes, r.tl3_max_minutes) == \
        ("default", 1, 0, 30, 60, 90)
    assert r.category_codes() == ["sakit", "izin", "cuti", "dinas_luar", "tugas_belajar"]


def test_models_match_migration(db_url: str) -> None:
    """Autogenerate finds nothing to do for this area's tables: the migration is the models."""
    eng = make_engine(db_url)
    with eng.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    eng.dispose()

    def table_of(d) -> str | None:
        op = d[0] if isinstance(d, tuple) else d[0][0]
        for part in (d if isinstance(d, tuple) else d[0])[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else part
            tbl = getattr(part, "table", None)
            if tbl is not None and getattr(tbl, "name", None):
                return tbl.name
            if isinstance(name, str) and name in MY_TABLES:
                return name
        return op

    mine = [d for d in diff if table_of(d) in MY_TABLES]
    assert mine == []
