"""Input cleaning and small helpers every roster use case shares, so each rule is written once."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attendance.errors import Conflict, Invalid
from attendance.models import User
from attendance.nip import InvalidNip, parse_nip


def actor_name(actor: User | str | None) -> str:
    if actor is None:
        return "system"
    return actor if isinstance(actor, str) else actor.username


# C0 and C1 control characters and DEL, but tab, line feed and carriage return, which are whitespace here.
# Nobody types them, a spreadsheet cannot hold most of them and PostgreSQL refuses NUL.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def refuse_control_characters(value: str, what: str) -> None:
    """Refuse text with a control character (an escape sequence, a bell, a NUL) before it is stored."""
    found = CONTROL_CHARACTER.search(value)
    if found is not None:
        raise Invalid(f"{what}_control_character",
                      f"{what} contains a control character (U+{ord(found.group()):04X}); remove it")


def refuse_unknown_fields(changes: dict[str, Any], allowed: set[str]) -> None:
    """An update names only fields it may change: anything else is a client's mistake, not ignored."""
    unknown = set(changes) - allowed
    if unknown:
        raise Invalid("unknown_fields", f"cannot change: {', '.join(sorted(unknown))}")


def clean_text(value: Any, what: str, *, max_len: int) -> str:
    """A required text field, whitespace collapsed, at most `max_len` characters."""
    s = optional_text(value, what, max_len=max_len)
    if s is None:
        raise Invalid(f"{what}_missing", f"{what} is required")
    return s


def optional_text(value: Any, what: str, *, max_len: int) -> str | None:
    """An optional text field, whitespace collapsed; None when empty. Control characters are refused."""
    if value is None:
        return None
    refuse_control_characters(str(value), what)
    s = " ".join(str(value).split())
    if not s:
        return None
    if len(s) > max_len:
        raise Invalid(f"{what}_too_long", f"{what} is longer than {max_len} characters")
    return s


def valid_nip(raw: str) -> str:
    try:
        return parse_nip(raw).nip
    except InvalidNip as exc:
        raise Invalid(f"nip_{exc.code}", f"invalid NIP: {exc.message}") from None


def flush_or_conflict(session: Session, code: str, message: str) -> None:
    """Turn a unique-constraint race into a clean 409 (the pre-check covers the common case)."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(code, message) from None

