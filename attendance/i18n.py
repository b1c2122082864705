"""Translations the domain itself needs (the words printed in signed reports). Bahasa Indonesia
first, English second. Catalog files are {"id": {key: text}, "en": {key: text}}; the HTTP edge
merges these with its own page strings (app.web.i18n), so a key has one home."""
from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

LANGS = ("id", "en")
DOMAIN_CATALOGS = (Path(__file__).parent / "reports" / "labels.json",)


def load_catalog(paths: Iterable[Path]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for lang in LANGS:
            merged[lang].update(data.get(lang, {}))
    return merged


def translate(cat: dict[str, dict[str, str]], key: str, lang: str, **fmt: object) -> str:
    """Missing in the asked language falls back to Indonesian, then to the key itself."""
    text = cat.get(lang, {}).get(key) or cat["id"].get(key) or key
    return text.format(**fmt) if fmt else text


@lru_cache
def domain_catalog() -> dict[str, dict[str, str]]:
    return load_catalog(DOMAIN_CATALOGS)


def t(key: str, lang: str = "id", **fmt: object) -> str:
    return translate(domain_catalog(), key, lang, **fmt)
