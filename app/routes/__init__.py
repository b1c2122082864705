"""One router module per resource. main.create_app mounts every router listed here."""
from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    """Imported lazily so `apel --help` stays fast."""
    from . import health
    from . import live
    from . import auth, employees, enrolment, offices, pages_roster, privacy, users
    from . import pages_reports, reports, verify
    from . import assemblies, corrections, pages_attendance, review, rules

    return [health.router, live.router,
            auth.router, offices.router, employees.router, enrolment.router, privacy.router, users.router,
            pages_roster.router,
            reports.router, verify.router, pages_reports.router,
            assemblies.router, corrections.router, review.router, rules.router, pages_attendance.router]
