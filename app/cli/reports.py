"""`apel verify`, `apel audit verify`, `apel signing-key` and `apel report ...`.

Exit codes: 0 = valid / written, 1 = verification failed (tampered, untrusted, broken chain),
2 = bad input (missing file, unknown apel, bad month)."""
from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
report_app = typer.Typer(help="Attendance reports (signed CSV, XLSX, PDF).", no_args_is_help=True)


def _settings():
    """The installation's settings; refused when its database does not exist (app.cli.database)."""
    from app.cli.database import existing_settings

    return existing_settings()


def _session_factory(db_url: str):
    from app.cli.database import open_database

    return open_database(say=False)[2]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def verify(
    file: Path = typer.Argument(..., help="The exported report (CSV, XLSX or PDF), or the downloaded ZIP."),
    sig: Path = typer.Option(None, "--sig", help="Detached signature (default FILE.sig)."),
    trust: list[Path] = typer.Option([], "--trust", help="Also trust this Ed25519 public key (PEM); repeatable."),
) -> None:
    """Check that FILE is exactly what this installation signed: any changed byte fails."""
    from attendance.reports.signing import fingerprint, short_fingerprint, trusted_fingerprints, verify_bytes

    if not file.is_file():
        _fail(f"no such file: {file}")
    data = file.read_bytes()
    sig_raw: bytes | None = None
    if sig is None and not file.with_name(file.name + ".sig").is_file():
        # The ZIP the web app hands out (report + .sig) verifies as it is.
        from attendance.reports.signing import split_bundle

        try:
            bundle = split_bundle(data)
        except ValueError as exc:
            _fail(str(exc))
        if bundle is not None:
            name, data, sig_raw = bundle
            typer.echo(f"bundle: checking {name} with {name}.sig")
    if sig_raw is None:
        sig = sig or file.with_name(file.name + ".sig")
        if not sig.is_file():
            _fail(f"no such file: {sig}")
        sig_raw = sig.read_bytes()
    from app.cli.database import installation_exists

    # With --trust keys alone a report verifies anywhere; the installation's own key needs the installation.
    if trust and not installation_exists():
        trusted: dict[str, str] = {}
    else:
        s = _settings()
        trusted = trusted_fingerprints(s.data_dir, s.signing_settings)
    for pem in trust:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            pub = serialization.load_pem_public_key(pem.read_bytes())
        except (OSError, ValueError) as exc:
            _fail(f"cannot read public key {pem}: {exc}")
        if not isinstance(pub, Ed25519PublicKey):
            _fail(f"{pem} is not an Ed25519 public key")
        trusted[fingerprint(pub)] = f"--trust {pem}"
    result = verify_bytes(data, sig_raw, trusted)
    typer.echo(("VALID: " if result.valid else "INVALID: ") + result.message)
    if result.signer:
        typer.echo(f"  signer:      {result.signer}")
        typer.echo(f"  signed at:   {result.signed_at}")
        typer.echo(f"  document id: {result.document_id}")
        typer.echo(f"  key:         {short_fingerprint(result.key_fingerprint or '')}")
    for k, v in result.details.items():
        typer.echo(f"  {k}: {v}")
    raise typer.Exit(0 if result.valid else 1)


def signing_key(
    public_out: Path = typer.Option(None, "--public-out", help="Write the public key (PEM) here."),
) -> None:
    """Show the installation's signing key fingerprint (creating the key on first use)."""
    from attendance.reports.signing import load_signer, short_fingerprint

    s = _settings()
    try:
        signer = load_signer(s.data_dir, s.signing_settings)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"signer:      {signer.name}")
    typer.echo(f"fingerprint: {short_fingerprint(signer.fingerprint)}  ({signer.fingerprint})")
    typer.echo(f"private key: {signer.source}")
    if public_out:
        public_out.write_bytes(signer.public_pem())
        typer.echo(f"public key written to {public_out}")
    else:
        typer.echo(signer.public_pem().decode().rstrip())


@audit_app.command("verify")
def audit_verify(
    checkpoint: list[str] = typer.Option(
        [], "--checkpoint",
        help="ID:HASH (or a hash prefix of 16+ hex digits) of an entry recorded elsewhere, e.g. the "
             "audit checkpoint printed on a signed report; "
             "fails if the log no longer holds it (catches a truncated tail)."),
) -> None:
    """Recompute the hash chain of the audit log, check the signed checkpoints and every closed apel's
    records against their seal; exit 1 naming what is broken."""
    from sqlalchemy import select

    from attendance.audit import verify_chain
    from attendance.audit_seals import verify_seals
    from attendance.models import AuditEntry
    from attendance.reports.signing import trusted_fingerprints

    s = _settings()
    wanted: list[tuple[int, str]] = []
    for cp in checkpoint:
        try:
            entry_id, prefix = cp.split(":", 1)
            wanted.append((int(entry_id), prefix.strip().lower()))
        except ValueError:
            _fail(f"bad --checkpoint {cp!r}: expected ID:HASH")
    factory = _session_factory(s.db_url)
    with factory() as session:
        report = verify_chain(session)
        if not report.ok:
            typer.echo(f"BROKEN: {report.problem} (checked {report.entries} entries)")
            bad = session.get(AuditEntry, report.first_bad_id) if report.first_bad_id else None
            if bad is not None:
                typer.echo(f"  entry {bad.id}: at={bad.at.isoformat()} actor={bad.actor} action={bad.action} "
                           f"entity={bad.entity}:{bad.entity_id}")
            raise typer.Exit(1)
        tip = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
        for i, h in wanted:
            row = session.get(AuditEntry, i)
            if row is None or len(h) < 16 or not row.hash.startswith(h):
                typer.echo(f"BROKEN: checkpoint entry {i} ({h[:16]}...) is no longer in the log")
                raise typer.Exit(1)
        seals = verify_seals(session, trusted_fingerprints(s.data_dir, s.signing_settings))
    for problem in seals.problems:
        typer.echo(f"BROKEN: {problem}")
    if not seals.ok:
        raise typer.Exit(1)
    typer.echo(f"OK: {report.entries} entries, chain intact; {seals.checkpoints} signed checkpoint(s) hold; "
               f"{seals.sealed_apels} closed apel(s) match their sealed records")
    for note in seals.notes:
        typer.echo(f"  note: {note}")
    if tip:
        typer.echo(f"  tip: {tip.id}:{tip.hash}")


@audit_app.command("checkpoint")
def audit_checkpoint(reason: str = typer.Option("by hand", "--reason", help="Why, kept in the log.")) -> None:
    """Sign the audit log's tip now with the installation's key (the service also does it by itself)."""
    from attendance.audit_seals import write_checkpoint
    from attendance.db.unit_of_work import run_in_transaction
    from attendance.reports.signing import load_signer

    s = _settings()
    signer = load_signer(s.data_dir, s.signing_settings)
    with _session_factory(s.db_url)() as session:
        entry = run_in_transaction(session, lambda: write_checkpoint(session, signer, reason))
        if entry is None:
            typer.echo("nothing to sign: the log's tip is already a signed checkpoint (or the log is empty)")
            return
        typer.echo(f"signed checkpoint {entry.id} over entry {entry.entity_id}")


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no login name in some containers
        return "cli"


def _office_ids(session, code: str | None) -> list[int] | None:
    if code is None:
        return None
    from sqlalchemy import select

    from attendance.models import Office

    oid = session.execute(select(Office.id).where(Office.code == code)).scalar()
    if oid is None:
        _fail(f"no office with code {code!r}")
    return [oid]


def _export(kind: str, out: Path | None, build) -> None:
    from attendance.db.unit_of_work import run_in_transaction
    from attendance.errors import ApelError
    from attendance.reports.publish import write_export
    from attendance.reports.signing import load_signer

    s = _settings()
    try:
        signer = load_signer(s.data_dir, s.signing_settings)
    except ValueError as exc:
        _fail(str(exc))
    factory = _session_factory(s.db_url)
    with factory() as session:
        try:   # committed with the audit entry naming this file's hash
            exp = run_in_transaction(session, lambda: build(session, signer, s))
        except ApelError as exc:
            _fail(exc.message)
        target = out or Path(exp.filename)
    sig_path = write_export(exp, target)
    typer.echo(f"{kind} report written: {target} ({len(exp.data)} bytes)")
    typer.echo(f"signature:           {sig_path}")
    typer.echo(f"document id:         {exp.sig['document_id']}")
    typer.echo(f"sha256:              {exp.sig['sha256']}")


FORMAT_HELP = "csv | xlsx | pdf"


def _stem(out: Path | None, fmt: str) -> str | None:
    """Sign under the name the file is written as (the .sig records it), minus the format suffix."""
    if out is None:
        return None
    return out.name[: -len(fmt) - 1] if out.name.lower().endswith("." + fmt) else out.name


@report_app.command("apel")
def report_apel(
    assembly_id: int = typer.Argument(..., help="The apel's id."),
    fmt: str = typer.Option("pdf", "--format", "-f", help=FORMAT_HELP),
    lang: str = typer.Option("id", "--lang", help="id | en"),
    out: Path = typer.Option(None, "--out", "-o", help="Output file (default: a name in the current folder)."),
    office: str = typer.Option(None, "--office", help="Only this office (code)."),
    detail: bool = typer.Option(True, "--detail/--no-detail", help="Include the per-person tables."),
) -> None:
    """Laporan apel: per office roster, present, late by tier, absent by category, masks, distancing."""
    from attendance.reports.publish import export_apel

    def build(session, signer, s):
        return export_apel(session, assembly_id, fmt=fmt, lang=lang, signer=signer, actor=_cli_actor(),
                           tz=s.default_timezone, office_ids=_office_ids(session, office), detail=detail,
                           basename=_stem(out, fmt), report_settings=s.report_settings)

    _export("apel", out, build)


@report_app.command("recap")
def report_recap(
    month: str = typer.Option(..., "--month", help="YYYY-MM (in APEL_DEFAULT_TIMEZONE)."),
    fmt: str = typer.Option("xlsx", "--format", "-f", help=FORMAT_HELP),
    lang: str = typer.Option("id", "--lang", help="id | en"),
    out: Path = typer.Option(None, "--out", "-o", help="Output file (default: a name in the current folder)."),
    office: str = typer.Option(None, "--office", help="Only this office (code)."),
    employees: bool = typer.Option(True, "--employees/--offices-only", help="Include the per-employee table."),
    operators: bool = typer.Option(False, "--operators",
                                   help="Add the table of days marked present by hand, per operator (for HR)."),
) -> None:
    """Rekap kehadiran bulanan per employee and per office (closed apels only): the TPP figures."""
    from attendance.reports.publish import export_recap

    def build(session, signer, s):
        return export_recap(session, month, fmt=fmt, lang=lang, signer=signer, actor=_cli_actor(),
                            tz=s.default_timezone, office_ids=_office_ids(session, office),
                            with_employees=employees, with_operators=operators, basename=_stem(out, fmt),
                            report_settings=s.report_settings)

    _export("recap", out, build)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root `apel` app."""
    app.command("verify")(verify)
    app.command("signing-key")(signing_key)
    app.add_typer(audit_app, name="audit")
    app.add_typer(report_app, name="report")
