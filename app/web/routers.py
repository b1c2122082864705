"""One router module per resource. main.create_app mounts every router listed here."""
from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    """Imported lazily so `apel --help` stays fast."""
    from app.web.api import health
    from app.web.api import live
    from app.web.api import auth, employees, enrolment, offices, privacy, users
    from app.web.pages import roster as pages_roster
    from app.web.pages import reports as pages_reports
    from app.web.api import reports, verify
    from app.web.api import assemblies, corrections, review, rules
    from app.web.pages import attendance as pages_attendance

    return [health.router, live.router,
            auth.router, offices.router, employees.router, enrolment.router, privacy.router, users.router,
            pages_roster.router,
            reports.router, verify.router, pages_reports.router,
            assemblies.router, corrections.router, review.router, rules.router, pages_attendance.router]
