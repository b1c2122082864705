"""One router module per resource (JSON routes in api/, pages in pages/); app.web.app.create_app mounts
every router listed here."""
from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    """Imported lazily so `apel --help` stays fast."""
    from app.web.api import (
        assemblies,
        auth,
        confirmations,
        corrections,
        employees,
        enrolment,
        health,
        live,
        offices,
        present_by_hand,
        privacy,
        reports,
        review,
        rules,
        users,
        verify,
    )
    from app.web.pages import attendance as pages_attendance
    from app.web.pages import live as pages_live
    from app.web.pages import reports as pages_reports
    from app.web.pages import roster as pages_roster

    return [health.router, live.router, confirmations.router, present_by_hand.router, pages_live.router,
            auth.router, offices.router, employees.router, enrolment.router, privacy.router, users.router,
            pages_roster.router,
            reports.router, verify.router, pages_reports.router,
            assemblies.router, corrections.router, review.router, rules.router, pages_attendance.router]
