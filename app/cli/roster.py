"""`apel user ...`, `apel office ...` and `apel enroll FOLDER`: the roster from the command line.

Changes made here are audited with the actor `cli:<login name>` (the operating-system user)."""
from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

user_app = typer.Typer(help="User accounts (admin, hr, leader, operator, observer).", no_args_is_help=True)
office_app = typer.Typer(help="Offices (OPD).", no_args_is_help=True)
T = TypeVar("T")


def _session():
    """A session on the installation's database (named on standard error, never created here),
    migrated to head first."""
    from app.cli.database import open_database

    return open_database()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@user_app.command("create")
def user_create(
    username: str = typer.Argument(..., help="Login name (letters, digits, . _ -)."),
    role: str = typer.Option(..., "--role", help="admin | hr | leader | operator | observer"),
    office: str = typer.Option(None, "--office", help="Office code; required for operators."),
    full_name: str = typer.Option(None, "--name", help="Full name shown in the pages."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Create a user. The password is asked twice (or read from stdin with --password-stdin)."""
    from attendance.db.unit_of_work import run_in_transaction
    from attendance.errors import ApelError
    from attendance.roster.offices import office_by_code
    from attendance.roster.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    _, engine, factory = _session()
    try:
        with factory() as db:
            office_id = office_by_code(db, office).id if office else None
            user = run_in_transaction(db, lambda: create_user(db, actor=_actor(), username=username, password=password,
                                                              role=role, office_id=office_id, full_name=full_name))
            where = f", office {office.upper()}" if office else ""
            typer.echo(f"created user {user.username} (role {user.role}{where})")
    except ApelError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()


@user_app.command("list")
def user_list() -> None:
    """List user accounts."""
    from attendance.models import Office
    from attendance.roster.users import list_users

    _, engine, factory = _session()
    with factory() as db:
        codes = {o.id: o.code for o in db.query(Office)}
        for u in list_users(db):
            typer.echo(f"{u.username:<20} {u.role:<9} {codes.get(u.office_id, '-'):<14} "
                       f"{'active' if u.active else 'inactive':<8} {u.full_name or ''}")
    engine.dispose()


@office_app.command("create")
def office_create(
    code: str = typer.Argument(..., help="Short code, e.g. DISKOMINFOS."),
    name: str = typer.Argument(..., help="Full name of the office."),
    timezone: str = typer.Option("Asia/Makassar",
                                 help="IANA zone: Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT)."),
    hfov: float = typer.Option(None, "--hfov",
                               help="The office camera's horizontal field of view in degrees (20-170; default 70)."),
    min_distance: float = typer.Option(None, "--min-distance",
                                       help="Minimum distance between people in metres (0.3-5; default 1)."),
    back_row: float = typer.Option(None, "--back-row",
                                   help="The back row's distance from the camera in metres (1-30), if known: "
                                   "faster whole-frame looks (docs/vision.md)."),
    camera_height: float = typer.Option(None, "--camera-height", help="The camera's height above the floor in metres "
                                        "(0.5-20), if measured: tape from the floor to the lens."),
    row_lines: str = typer.Option(None, "--row-lines", help='The rows\' lines on the floor, each one\'s distance from '
                                  'the camera in metres (0.5-30, at least 0.3 apart), if measured: "3;4;5;6".'),
) -> None:
    """Create an office (OPD)."""
    from attendance.db.unit_of_work import run_in_transaction
    from attendance.errors import ApelError
    from attendance.i18n import t
    from attendance.roster.offices import create_office
    from attendance.vision.config import format_row_lines, read_row_lines, rows_at_the_limit_advice

    lines = None
    if row_lines is not None:
        try:   # refused before the database is touched, naming the option
            lines = read_row_lines(row_lines)
        except ValueError as exc:
            _fail(f"--row-lines: {exc}")
    _, engine, factory = _session()
    try:
        with factory() as db:
            office = run_in_transaction(db, lambda: create_office(
                db, actor=_actor(), code=code, name=name, timezone=timezone, camera_hfov_deg=hfov,
                min_distance_m=min_distance, back_row_m=back_row, camera_height_m=camera_height, row_lines_m=lines))
            back = f", back row {office.back_row_m:g} m" if office.back_row_m else ""
            back += f", camera height {office.camera_height_m:g} m" if office.camera_height_m else ""
            back += f", row lines {format_row_lines(office.row_lines_m)} m" if office.row_lines_m else ""
            typer.echo(f"created office {office.code} ({office.timezone}; camera {office.camera_hfov_deg:g} deg, "
                       f"minimum distance {office.min_distance_m:g} m{back})")
            advice = rows_at_the_limit_advice(office.row_lines_m, office.min_distance_m)
            if advice:
                typer.echo("note: " + t("offices.rows_at_limit", "en", **advice), err=True)
    except ApelError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()


@office_app.command("list")
def office_list() -> None:
    """List offices."""
    from attendance.roster.offices import list_offices

    _, engine, factory = _session()
    with factory() as db:
        for o in list_offices(db):
            typer.echo(f"{o.code:<16} {o.timezone:<14} {'active' if o.active else 'inactive':<8} {o.name}")
    engine.dispose()


def enroll(
    folder: Path = typer.Argument(..., exists=True, file_okay=False, readable=True,
                                  help="One subfolder per person, named <NIP> or <NIP>_<Name>, holding their photos."),
    office: str = typer.Option(None, "--office",
                               help="Office code for people not yet registered (their name comes from the folder)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every photo, write nothing."),
) -> None:
    """Enrol face photos from a folder; reports each photo as accepted or rejected with the reason.

    Each accepted photo becomes a face template; a rejected photo changes nothing. A person whose
    NIP is not registered is created when --office is given and the folder carries a name."""
    from attendance.db.unit_of_work import run_in_transaction
    from attendance.errors import ApelError
    from attendance.roster.bulk import scan_folder
    from attendance.roster.employees import create_employee, employee_by_nip
    from attendance.roster.offices import office_by_code
    from attendance.roster.photos import PhotoLimits, analyse_photo
    from attendance.roster.templates import check_not_duplicate, store_templates, write_pending

    settings, engine, factory = _session()
    limits = PhotoLimits.from_settings(settings)
    keep_dir = settings.data_dir if settings.keep_enrolment_photos else None
    accepted = rejected = 0
    people = scan_folder(folder)
    if not people:
        _fail(f"no subfolders in {folder} (expected one folder per person, named by NIP)")
    try:
        with factory() as db:
            def write(work: Callable[[], T]) -> T:
                """Each step its own unit of work; in a dry run nothing is committed and each person's
                steps are rolled back together."""
                return work() if dry_run else run_in_transaction(db, work)

            def store(emp: Any, photo: Any, data: bytes) -> list[Any]:
                check_not_duplicate(db, photo, emp)
                return store_templates(db, emp, photo, actor=_actor(), keep_dir=keep_dir, data=data)[1]

            office_id = office_by_code(db, office).id if office else None
            for person in people:
                label = person.folder.name
                nip, name = person.nip, person.name
                if person.error or nip is None:   # a folder without a valid NIP always carries its error
                    typer.secho(f"{label}: skipped: {person.error}", fg=typer.colors.YELLOW)
                    rejected += len(person.photos)
                    continue
                emp = employee_by_nip(db, nip)
                if emp is None:
                    if office_id is None or not name:
                        typer.secho(f"{label}: skipped: NIP {nip} is not registered "
                                    "(give --office and name the folder <NIP>_<Name> to create it)",
                                    fg=typer.colors.YELLOW)
                        rejected += len(person.photos)
                        continue
                    emp = write(partial(create_employee, db, actor=_actor(), nip=nip, name=name, office_id=office_id))
                    typer.echo(f"{label}: {'would create' if dry_run else 'created'} employee {emp.nip} {emp.name}")
                for path in person.photos:
                    data = path.read_bytes()
                    photo = analyse_photo(data, limits, path.name)
                    try:
                        if not photo.ok:
                            raise photo.refusal()
                        pending = write(partial(store, emp, photo, data))
                        if not dry_run:
                            write_pending(pending)
                        accepted += 1
                        typer.secho(f"{label}/{path.name}: accepted (quality {photo.quality:.2f})",
                                    fg=typer.colors.GREEN)
                    except ApelError as exc:
                        rejected += 1
                        typer.secho(f"{label}/{path.name}: rejected: {exc.code}: {exc.message}", fg=typer.colors.RED)
                if dry_run:
                    db.rollback()
    except ApelError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()
    typer.echo(f"{accepted} photo(s) accepted, {rejected} rejected{' (dry run: nothing written)' if dry_run else ''}")
    if rejected and not accepted:
        raise typer.Exit(2)


templates_app = typer.Typer(help="Face templates after a change of recogniser (APEL_RECOGNIZER).", no_args_is_help=True)


@templates_app.command("status")
def templates_status() -> None:
    """Templates per recogniser, and the active staff the configured one cannot recognise."""
    from attendance.roster.templates import templates_by_backend, unrecognisable
    from attendance.vision.config import backend_name

    settings, engine, factory = _session()
    backend = backend_name(settings.recogniser_spec)
    with factory() as db:
        counts = templates_by_backend(db)
        stale = unrecognisable(db, backend)
    engine.dispose()
    typer.echo(f"recogniser: {backend} (APEL_RECOGNIZER)")
    for b, n in sorted(counts.items()):
        typer.echo(f"  {n:>6} templates by {b}")
    if stale:
        typer.secho(f"{len(stale)} active employee(s) have templates only by another recogniser and will not be "
                    f"recognised live (apel templates rebuild, or enrol them again):", fg=typer.colors.YELLOW)
        for e in stale:
            typer.echo(f"  {e.nip} {e.name}")
    else:
        typer.echo("every active employee with templates has one by this recogniser")


@templates_app.command("rebuild")
def templates_rebuild() -> None:
    """Make templates by the configured recogniser from the kept enrolment photos of the staff it
    cannot recognise (APEL_KEEP_ENROLMENT_PHOTOS); audited as enrolments."""
    from attendance.db.unit_of_work import run_in_transaction
    from attendance.roster.photos import PhotoLimits
    from attendance.roster.templates import rebuild_from_kept_photos

    settings, engine, factory = _session()
    try:
        with factory() as db:
            report = run_in_transaction(db, lambda: rebuild_from_kept_photos(db, PhotoLimits.from_settings(settings),
                                                                             actor=_actor()))
    finally:
        engine.dispose()
    typer.echo(f"rebuilt templates for {len(report.rebuilt)} employee(s)")
    for nip, path, reason in report.failed:
        typer.secho(f"  {nip}: {path}: {reason}", fg=typer.colors.RED)
    if report.without_photos:
        typer.secho(f"{len(report.without_photos)} employee(s) have no kept photo and must be enrolled again: "
                    f"{', '.join(report.without_photos)}", fg=typer.colors.YELLOW)
    if report.failed or report.without_photos:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root `apel` app."""
    app.add_typer(user_app, name="user")
    app.add_typer(office_app, name="office")
    app.add_typer(templates_app, name="templates")
    app.command("enroll")(enroll)
