"""Bahasa Indonesia first, English second. Each area keeps its strings in app/locales/<area>.json
as {"id": {key: text}, "en": {key: text}}; all files are merged at import."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fastapi import Request

LOCALES = Path(__file__).parent / "locales"
LANGS = ("id", "en")


@lru_cache
def catalog() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    for path in sorted(LOCALES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for lang in LANGS:
            merged[lang].update(data.get(lang, {}))
    return merged


def t(key: str, lang: str = "id", **fmt: object) -> str:
    """Missing in the asked language falls back to Indonesian, then to the key itself."""
    cat = catalog()
    text = cat.get(lang, {}).get(key) or cat["id"].get(key) or key
    return text.format(**fmt) if fmt else text


def request_lang(request: Request, default: str = "id") -> str:
    """?lang= wins, then the `lang` cookie, then Accept-Language, then the installation default."""
    q = request.query_params.get("lang") or request.cookies.get("lang")
    if q in LANGS:
        return q
    accept = request.headers.get("accept-language", "")
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return default
