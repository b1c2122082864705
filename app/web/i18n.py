"""Bahasa Indonesia first, English second. Each area keeps its page strings in app/locales/<area>.json
as {"id": {key: text}, "en": {key: text}}; they are merged with the domain's own (attendance.i18n)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import Request

from attendance.i18n import DOMAIN_CATALOGS, load_catalog, translate

LOCALES = Path(__file__).parent / "locales"
LANGS = ("id", "en")


@lru_cache
def catalog() -> dict[str, dict[str, str]]:
    """Page strings (app/locales/*.json) plus the domain's (report labels), one merged catalog."""
    return load_catalog([*DOMAIN_CATALOGS, *sorted(LOCALES.glob("*.json"))])


def t(key: str, lang: str = "id", **fmt: object) -> str:
    """Missing in the asked language falls back to Indonesian, then to the key itself."""
    return translate(catalog(), key, lang, **fmt)


def request_lang(request: Request, default: str = "id") -> str:
    """?lang= wins, then the `lang` cookie (the ID/EN switch), then the installation default
    (APEL_LANGUAGE, Bahasa Indonesia). The browser's Accept-Language is not used: many office PCs
    run an English browser, and the product speaks Indonesian first."""
    q = request.query_params.get("lang") or request.cookies.get("lang")
    return q if q in LANGS else default
