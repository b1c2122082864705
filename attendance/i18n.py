"""The one catalogue of translations, for the pages and for the signed reports alike. Bahasa Indonesia
first, English second. Each area keeps its strings in attendance/locales/<area>.json as
{"id": {key: text}, "en": {key: text}}; errors.json holds the hint for each error code (`err.<code>`)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

Lang = Literal["id", "en"]
LANGS: tuple[str, ...] = get_args(Lang)
LOCALES = Path(__file__).parent / "locales"


@lru_cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every locales/*.json merged into one {lang: {key: text}}; a key has one home."""
    merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    for path in sorted(LOCALES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for lang in LANGS:
            merged[lang].update(data.get(lang, {}))
    return merged


def t(key: str, lang: str = "id", **fmt: object) -> str:
    """Missing in the asked language falls back to Indonesian, then to the key itself."""
    cat = catalogue()
    text = cat.get(lang, {}).get(key) or cat["id"].get(key) or key
    return text.format(**fmt) if fmt else text


def error_hint(code: str, lang: str) -> str | None:
    """The person's-language hint for an error code, or None when there is none."""
    key = f"err.{code}"
    hint = t(key, lang)
    return None if hint == key else hint
