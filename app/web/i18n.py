"""Which language a request is answered in. The strings themselves live in the one catalogue
(attendance.i18n), shared with the signed reports."""
from __future__ import annotations

from fastapi import Request

from attendance.i18n import LANGS


def request_lang(request: Request, default: str = "id") -> str:
    """?lang= wins, then the `lang` cookie (the ID/EN switch), then the installation default
    (APEL_LANGUAGE, Bahasa Indonesia). The browser's Accept-Language is not used: many office PCs
    run an English browser, and the product speaks Indonesian first."""
    q = request.query_params.get("lang") or request.cookies.get("lang")
    return q if q in LANGS else default
