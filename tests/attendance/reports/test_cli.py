"""The `apel` commands of this area, run through Typer's runner against real databases:
report export + verify, and the audit chain check catching an edited, a deleted and a cut-off entry."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli.main import _register_all
from app.cli.main import app as cli_app
from app.settings import get_settings
from attendance import audit

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _commands():
    if not any(getattr(c, "name", None) == "verify" for c in cli_app.registered_commands):
        _register_all()


@pytest.fixture
def env(monkeypatch, db_url, tmp_path):
    monkeypatch.setenv("APEL_DATABASE_URL", db_url)
    monkeypatch.setenv("APEL_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _run(*args: str):
    return runner.invoke(cli_app, list(args))


def test_report_commands_write_signed_files_that_verify(env, session, ds):
    out = env / "out" / "apel.pdf"
    r = _run("report", "apel", str(ds.apels["nov1"]), "--format", "pdf", "--lang", "en", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert out.is_file() and Path(str(out) + ".sig").is_file()
    ok = _run("verify", str(out))
    assert ok.exit_code == 0 and "VALID" in ok.output, ok.output
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    bad = _run("verify", str(out))
    assert bad.exit_code == 1 and "INVALID" in bad.output
    import zipfile

    z = env / "bundle.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(Path(str(out) + ".sig"), "apel.pdf.sig")
        zf.writestr("apel.pdf", bytes(data))
    zb = _run("verify", str(z))
    assert zb.exit_code == 1 and "bundle" in zb.output and "INVALID" in zb.output
    rc = _run("report", "recap", "--month", "2026-11", "--office", "BKD", "--format", "xlsx",
              "--out", str(env / "out" / "rekap.xlsx"))
    assert rc.exit_code == 0, rc.output
    assert _run("verify", str(env / "out" / "rekap.xlsx")).exit_code == 0


def test_recap_command_adds_the_hand_marks_per_operator_when_asked(env, session, ds):
    """The column of days marked by hand is always there; the per-operator table only with --operators."""
    import csv

    from .test_recap_hand import mark_the_open_apel

    mark_the_open_apel(session, ds)
    plain, with_ops = env / "out" / "rekap.csv", env / "out" / "rekap-ops.csv"
    assert _run("report", "recap", "--month", "2026-11", "--format", "csv", "--lang", "en",
                "--out", str(plain)).exit_code == 0
    r = _run("report", "recap", "--month", "2026-11", "--format", "csv", "--lang", "en", "--operators",
             "--out", str(with_ops))
    assert r.exit_code == 0, r.output
    first = [row[0] for row in csv.reader(plain.read_text(encoding="utf-8-sig").splitlines()) if row]
    rows = [row for row in csv.reader(with_ops.read_text(encoding="utf-8-sig").splitlines()) if row]
    title = "Marked present by hand, per operator"
    assert title not in first and title in [row[0] for row in rows]
    assert "opbkd" not in plain.read_text(encoding="utf-8-sig")
    assert any(row[1:3] == ["opbkd", "BKD"] for row in rows)   # No, operator, office code, ...
    assert _run("verify", str(with_ops)).exit_code == 0


def test_report_commands_reject_bad_input(env, session, ds):
    assert _run("report", "apel", "999999", "--out", str(env / "x.pdf")).exit_code == 2
    assert _run("report", "apel", str(ds.apels["nov1"]), "--format", "doc", "--out", str(env / "x.doc")).exit_code == 2
    assert _run("report", "recap", "--month", "2026-13").exit_code == 2
    assert _run("report", "recap", "--month", "2026-11", "--office", "NOPE").exit_code == 2
    assert not list(env.glob("x.*"))
    assert _run("verify", str(env / "missing.pdf")).exit_code == 2


def _entries(session, n: int = 5) -> None:
    for i in range(n):
        audit.record(session, actor="hr1", action="attendance.correct", entity="attendance_record", entity_id=i,
                     before={"status": "tk"}, after={"status": "excused", "category": "sakit"}, reason=f"surat {i}")
    session.commit()


def test_audit_verify_ok_then_detects_an_edited_entry(env, session):
    _entries(session)
    ok = _run("audit", "verify")
    assert ok.exit_code == 0 and "OK: 5 entries" in ok.output, ok.output
    session.execute(text("UPDATE audit_log SET reason = 'diubah' WHERE id = 3"))
    session.commit()
    bad = _run("audit", "verify")
    assert bad.exit_code == 1 and "entry 3" in bad.output and "changed" in bad.output, bad.output


def test_audit_verify_detects_an_edited_json_value(env, session):
    _entries(session)
    row = session.execute(text("SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 1")).scalar()
    session.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = :i"), {"i": row})
    session.commit()
    bad = _run("audit", "verify")
    assert bad.exit_code == 1 and f"entry {row}" in bad.output


def test_audit_verify_detects_a_deleted_entry(env, session):
    _entries(session)
    session.execute(text("DELETE FROM audit_log WHERE id = 2"))
    session.commit()
    bad = _run("audit", "verify")
    assert bad.exit_code == 1 and "entry 3" in bad.output and "link broken" in bad.output, bad.output


def test_audit_checkpoint_catches_a_cut_off_tail(env, session):
    _entries(session)
    tip = session.execute(text("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")).one()
    assert _run("audit", "verify", "--checkpoint", f"{tip.id}:{tip.hash[:32]}").exit_code == 0
    session.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": tip.id})
    session.commit()
    assert _run("audit", "verify").exit_code == 0   # the chain alone cannot see a removed tail...
    cut = _run("audit", "verify", "--checkpoint", f"{tip.id}:{tip.hash[:32]}")
    assert cut.exit_code == 1 and "no longer in the log" in cut.output  # ...the printed checkpoint can
    assert _run("audit", "verify", "--checkpoint", "nonsense").exit_code == 2
