"""The audit log's seals: a closed apel's records edited in the table behind Apel's back, and a log
rewritten with every later hash recomputed, are both found; every change Apel itself makes (the close,
a correction, a review) keeps the seals valid. Real databases, real Ed25519 keys."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select, text

from attendance import audit
from attendance.assemblies.corrections import correct_record, excuse_employee
from attendance.assemblies.review import assign_review_item
from attendance.audit_seals import (
    CHECKPOINT_ACTION,
    SEAL_ACTION,
    checkpoint_due,
    verify_seals,
    write_checkpoint,
)
from attendance.db.unit_of_work import committed, run_in_transaction
from attendance.models import AuditEntry, ReviewItem
from attendance.reports.signing import load_signer, trusted_fingerprints

from .conftest import World, at
from .test_corrections import _closed_apel
from .test_sightings import rec, seen


@pytest.fixture
def keys(tmp_path):
    signer = load_signer(tmp_path / "data")
    return signer, trusted_fingerprints(tmp_path / "data")


def _rewrite_chain_from(session, entry_id: int, **changes: str) -> None:
    """What an attacker with database access does: edit an entry, then recompute every later hash."""
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    prev = audit.GENESIS
    for e in rows:
        if e.id == entry_id:
            for k, v in changes.items():
                setattr(e, k, v)
        e.prev_hash = prev
        e.hash = audit.entry_digest(prev, e.at, e.actor, e.action, e.entity, e.entity_id, e.before, e.after, e.reason)
        prev = e.hash
    # Unique prev_hash: write them as the attacker would, one statement each, outside the ORM's order.
    session.expunge_all()
    for i, e in enumerate(rows):
        session.execute(text("UPDATE audit_log SET prev_hash = :p, hash = :h, reason = :r, actor = :a WHERE id = :i"),
                        {"p": f"tmp{i}", "h": e.hash, "r": e.reason, "a": e.actor, "i": e.id})
    for e in rows:
        session.execute(text("UPDATE audit_log SET prev_hash = :p WHERE id = :i"), {"p": e.prev_hash, "i": e.id})
    session.commit()


def test_closing_seals_and_a_table_edit_is_found(session, world: World, keys) -> None:
    a = _closed_apel(session, world, seen(world.staff["JKT"][0].id, "t0", at(1)))
    seals = session.execute(select(AuditEntry).where(AuditEntry.action == SEAL_ACTION)).scalars().all()
    assert [int(s.entity_id) for s in seals] == [a.id]
    report = verify_seals(session, keys[1])
    assert report.ok and report.sealed_apels == 1, report.problems
    victim = rec(session, a, world.staff["JKT"][1])
    assert victim.status == "tk"
    session.execute(text("UPDATE attendance_records SET status = 'present' WHERE id = :i"), {"i": victim.id})
    session.commit()
    report = verify_seals(session, keys[1])
    assert not report.ok and f"apel {a.id}" in report.problems[0]


def test_corrections_and_reviews_keep_the_seal(session, world: World, keys) -> None:
    e0, e1, e2 = world.staff["JKT"][:3]
    a = _closed_apel(session, world)
    r = rec(session, a, e0)
    committed(correct_record)(session, r.id, actor=world.users["hr"], expected_version=r.version, status="excused",
                              excuse_category="sakit", reason="Surat dokter", attachment_ref="SKD-1")
    committed(excuse_employee)(session, a.id, e1.id, actor=world.users["hr"], category="dinas_luar",
                               reason="Tugas ke provinsi")
    assert verify_seals(session, keys[1]).ok
    # A review assignment on the closed apel changes a record through another path.
    b = _closed_apel(session, world, seen(None, "u", at(12), n=4, embedding=np.linspace(0, 1, 128, dtype=np.float32)))
    item = session.execute(select(ReviewItem).where(ReviewItem.assembly_id == b.id)).scalars().first()
    assert item is not None
    committed(assign_review_item)(session, item.id, actor=world.users["hr"], employee_id=e2.id, reason="Dikenali")
    assert rec(session, b, e2).status != "tk"
    report = verify_seals(session, keys[1])
    assert report.ok and report.sealed_apels == 2, report.problems
    n_seals = len(session.execute(select(AuditEntry).where(AuditEntry.action == SEAL_ACTION)).scalars().all())
    assert n_seals == 5   # two closes, the correction, the excuse, the review


def test_signed_checkpoint_catches_a_recomputed_chain(session, world: World, keys) -> None:
    signer, trusted = keys
    _closed_apel(session, world)
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    assert checkpoint_due(session) is None                 # the log is young: the daily one is not due
    assert checkpoint_due(session, now=later) == "daily"
    cp = run_in_transaction(session, lambda: write_checkpoint(session, signer, "apel ended"))
    assert cp is not None and cp.action == CHECKPOINT_ACTION
    assert checkpoint_due(session, now=later + timedelta(days=1)) is None   # nothing new since
    assert run_in_transaction(session, lambda: write_checkpoint(session, signer, "again")) is None
    assert verify_seals(session, trusted).ok and audit.verify_chain(session).ok
    first = session.execute(select(AuditEntry.id).order_by(AuditEntry.id)).scalars().first()
    _rewrite_chain_from(session, first, reason="rewritten")
    assert audit.verify_chain(session).ok          # the chain alone cannot tell
    report = verify_seals(session, trusted)
    assert not report.ok and "rewritten" in report.problems[0]


def test_forged_or_untrusted_checkpoints_fail(session, world: World, keys, tmp_path) -> None:
    signer, trusted = keys
    _closed_apel(session, world)
    run_in_transaction(session, lambda: write_checkpoint(session, signer, "apel ended"))
    other = load_signer(tmp_path / "elsewhere")
    audit.record(session, actor="x", action="note", entity="x")
    session.commit()
    run_in_transaction(session, lambda: write_checkpoint(session, other, "by another key"))
    report = verify_seals(session, trusted)
    assert not report.ok and "does not trust" in " ".join(report.problems)


def test_ending_over_http_signs_and_the_cli_checks_everything(db_url, settings_factory, world: World, tmp_path,
                                                              monkeypatch) -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from app.cli.main import _register_all
    from app.cli.main import app as cli_app
    from app.settings import get_settings
    from app.web.app import create_app

    from .test_routes import _create, auth

    app = create_app(settings_factory(db_url), migrate=False)
    with TestClient(app) as client:
        aid = _create(client, world).json()["id"]
        assert client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, "leader")).status_code == 200
        assert client.post(f"/api/v1/assemblies/{aid}/end", headers=auth(world, "leader")).status_code == 200
    with app.state.session_factory() as s:
        tail = s.execute(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(3)).scalars().all()
    assert tail == [CHECKPOINT_ACTION, SEAL_ACTION, "assembly.end"]

    monkeypatch.setenv("APEL_DATABASE_URL", db_url)
    monkeypatch.setenv("APEL_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    if not any(getattr(c, "name", None) == "verify" for c in cli_app.registered_commands):
        _register_all()
    runner = CliRunner()
    try:
        ok = runner.invoke(cli_app, ["audit", "verify"])
        assert ok.exit_code == 0 and "1 signed checkpoint(s) hold" in ok.output, ok.output
        with app.state.session_factory() as s:
            s.execute(text("UPDATE attendance_records SET status = 'present' WHERE assembly_id = :a"), {"a": aid})
            s.commit()
        bad = runner.invoke(cli_app, ["audit", "verify"])
        assert bad.exit_code == 1 and f"apel {aid}" in bad.output, bad.output
    finally:
        get_settings.cache_clear()
        app.state.engine.dispose()
