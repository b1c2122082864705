"""Demo data for `./dev serve` on an empty database: a few Bali provincial offices (WITA), one user
per role and some employees with valid NIPs (no photos: enrol them from the pages or `apel enroll`).

Idempotent: runs only when there are no users yet. The admin password is random and printed once;
the other demo users share a second random password, printed with it."""
from __future__ import annotations

import secrets

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attendance.db.unit_of_work import run_in_transaction
from attendance.models import User
from attendance.roster.employees import create_employee
from attendance.roster.offices import create_office
from attendance.roster.users import create_user

OFFICES = [
    ("SETDA", "Sekretariat Daerah Provinsi Bali"),
    ("DISKOMINFOS", "Dinas Komunikasi, Informatika dan Statistik Provinsi Bali"),
    ("BKPSDM", "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia Provinsi Bali"),
    ("DINKES", "Dinas Kesehatan Provinsi Bali"),
]

EMPLOYEES = [
    ("197805122005011003", "I Made Suardana", "SETDA", "Kepala Bagian Umum"),
    ("198302242009022004", "Ni Kadek Ayu Lestari", "SETDA", "Analis Kebijakan"),
    ("198503122010011001", "I Wayan Sudirta", "DISKOMINFOS", "Pranata Komputer Ahli Muda"),
    ("199001052015032002", "Ni Luh Putu Ariani", "DISKOMINFOS", "Statistisi Ahli Pertama"),
    ("198711232011011002", "I Komang Adi Putra", "BKPSDM", "Analis Kepegawaian"),
    ("199204172019032001", "Ni Made Dwi Cahyani", "BKPSDM", "Pengelola Data Kepegawaian"),
    ("198009302006041005", "I Gede Wirawan", "DINKES", "Epidemiolog Kesehatan"),
    ("199406082020122003", "Ni Ketut Sri Wahyuni", "DINKES", "Perawat Ahli Pertama"),
]


def _seed(db: Session, admin_pw: str, staff_pw: str) -> None:
    offices = {code: create_office(db, actor="demo", code=code, name=name, timezone="Asia/Makassar")
               for code, name in OFFICES}
    create_user(db, actor="demo", username="admin", password=admin_pw, role="admin", full_name="Administrator")
    create_user(db, actor="demo", username="hr", password=staff_pw, role="hr", full_name="BKPSDM (demo)")
    create_user(db, actor="demo", username="leader", password=staff_pw, role="leader",
                full_name="Sekretaris Daerah (demo)")
    create_user(db, actor="demo", username="operator", password=staff_pw, role="operator",
                office_id=offices["DISKOMINFOS"].id, full_name="Operator DISKOMINFOS (demo)")
    for nip, name, code, position in EMPLOYEES:
        create_employee(db, actor="demo", nip=nip, name=name, office_id=offices[code].id, position=position)


def server_url(host: str, port: int) -> str:
    """The address to open in a browser: a wildcard bind (all interfaces) is reached on this machine as 127.0.0.1."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:   # an IPv6 literal
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def seed_demo(app: FastAPI, url: str | None = None) -> dict[str, str] | None:
    """Create demo data once; returns the generated credentials (None when data already existed).

    `url`: where the server will answer (`apel serve` passes its --host/--port, which override the
    settings); without it, the configured APEL_HOST/APEL_PORT."""
    factory = app.state.session_factory
    with factory() as db:
        if db.execute(select(func.count()).select_from(User)).scalar_one():
            return None
        admin_pw = secrets.token_urlsafe(12)
        staff_pw = secrets.token_urlsafe(12)
        run_in_transaction(db, lambda: _seed(db, admin_pw, staff_pw))
    settings = app.state.settings
    url = url or server_url(settings.host, settings.port)
    print("\n" + "=" * 64, flush=True)
    print("Apel demo data created. These passwords are shown ONLY ONCE:", flush=True)
    print(f"  admin     / {admin_pw}", flush=True)
    print(f"  hr, leader, operator (DISKOMINFOS) / {staff_pw}", flush=True)
    print(f"Open {url} and log in.", flush=True)
    print("=" * 64 + "\n", flush=True)
    return {"admin": admin_pw, "staff": staff_pw}
