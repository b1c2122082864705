"""NIP (Nomor Induk Pegawai): the 18-digit civil-servant number, validated for what it encodes.

Layout: YYYYMMDD (birth date) + YYYYMM (appointment as CPNS) + G (1 male, 2 female) + NNN (sequence).
People often write it with spaces ("19850312 201001 1 001"); spaces are accepted and removed,
anything else that is not a digit is an error. Checking the embedded dates catches most typing
mistakes (a swapped digit usually makes a month 13 or a birth after the appointment).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

MIN_BIRTH_YEAR = 1940
MIN_APPOINTMENT_AGE = 15  # years between birth and appointment; CPNS must be 18, leave slack for typos in old records
MAX_APPOINTMENT_AGE = 60


class InvalidNip(ValueError):
    """A NIP that cannot be right. `code` is stable (for translations), `message` is for people."""

    def __init__(self, code: str, message: str, digits: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.digits = digits  # 1-based, inclusive: the digits the mistake is in (None: the whole number)


@dataclass(frozen=True)
class NipInfo:
    nip: str
    birth_date: date
    appointment_year: int
    appointment_month: int
    gender: str  # "M" | "F"
    sequence: int


# "NIP. 19850312 201001 1 001" is how letters and ID cards print it; people paste it whole.
_LABEL = re.compile(r"^\s*NIP\s*[.:]?\s*", re.IGNORECASE)


def _separator(ch: str) -> bool:
    """Spaces of every kind (a paste from a PDF or a web page brings no-break and thin spaces),
    zero-width marks, dots and dashes people type between the groups."""
    return ch.isspace() or ch in ".-\u200b\u200c\u200d\u2060\ufeff" or unicodedata.category(ch) == "Pd"


def normalise_nip(raw: str) -> str:
    """The one place a typed or pasted NIP becomes its digits: the label and separators go, anything
    else stays (so that a letter is still refused)."""
    return "".join(ch for ch in _LABEL.sub("", str(raw)) if not _separator(ch))


def format_nip(nip: str) -> str:
    """The spelling people read and print: birth date, appointment, gender, sequence."""
    return f"{nip[0:8]} {nip[8:14]} {nip[14]} {nip[15:18]}" if len(nip) == 18 else nip


def parse_nip(raw: str, *, today: date | None = None) -> NipInfo:
    """Return what the NIP encodes, or raise InvalidNip saying which part is wrong."""
    today = today or date.today()
    nip = normalise_nip(raw)
    if not nip:
        raise InvalidNip("empty", "NIP is empty")
    if not nip.isascii() or not nip.isdigit():
        bad = next(ch for ch in nip if not (ch.isascii() and ch.isdigit()))
        raise InvalidNip("not_digits", f"NIP must contain digits only, got {raw!r} ({bad!r} is not a digit)")
    if len(nip) != 18:
        raise InvalidNip("length", f"NIP must have 18 digits, got {len(nip)}")

    by, bm, bd = int(nip[0:4]), int(nip[4:6]), int(nip[6:8])
    ay, am = int(nip[8:12]), int(nip[12:14])
    g, seq = nip[14], int(nip[15:18])

    if not 1 <= bm <= 12:
        raise InvalidNip("birth_month", f"birth month {bm:02d} (digits 5-6) is not 01-12", (5, 6))
    try:
        birth = date(by, bm, bd)
    except ValueError:
        raise InvalidNip("birth_date", f"birth date {by:04d}-{bm:02d}-{bd:02d} (digits 1-8) does not exist",
                         (1, 8)) from None
    if by < MIN_BIRTH_YEAR or birth > today:
        raise InvalidNip("birth_year", f"birth year {by} (digits 1-4) is not plausible", (1, 4))
    if not 1 <= am <= 12:
        raise InvalidNip("appointment_month", f"appointment month {am:02d} (digits 13-14) is not 01-12", (13, 14))
    if (ay, am) > (today.year, today.month):
        raise InvalidNip("appointment_future", f"appointment {ay:04d}-{am:02d} (digits 9-14) is in the future",
                         (9, 14))
    age_at_appointment = ay - by - ((am, 1) < (bm, bd))
    if not MIN_APPOINTMENT_AGE <= age_at_appointment <= MAX_APPOINTMENT_AGE:
        raise InvalidNip(
            "appointment_age",
            f"appointment {ay:04d}-{am:02d} at age {age_at_appointment} is not plausible "
            f"(birth {birth.isoformat()})", (9, 14),
        )
    if g not in "12":
        raise InvalidNip("gender", f"gender digit (digit 15) must be 1 (male) or 2 (female), got {g}", (15, 15))
    if seq == 0:
        raise InvalidNip("sequence", "sequence number (digits 16-18) cannot be 000", (16, 18))
    return NipInfo(nip=nip, birth_date=birth, appointment_year=ay, appointment_month=am,
                   gender="M" if g == "1" else "F", sequence=seq)


def is_valid_nip(raw: str) -> bool:
    try:
        parse_nip(raw)
    except InvalidNip:
        return False
    return True


def split_leading_nip(text: str) -> tuple[str, str]:
    """A name that starts with a NIP (a folder `<NIP>_<Name>`, a file `<NIP>_2.jpg` or `<NIP> (2).png`)
    -> (the NIP as written, the rest). The NIP ends at its 18th digit (more digits in a row stay with
    it, so a long number is still refused as too long), or at the first character that is neither a
    digit nor a separator (`20240315_083012` gives `20240315`)."""
    s = _LABEL.sub("", text)
    digits = 0
    for i, ch in enumerate(s):
        if ch.isdigit():
            digits += 1
            if digits >= 18 and not (i + 1 < len(s) and s[i + 1].isdigit()):
                return s[: i + 1], s[i + 1:]
        elif not _separator(ch):
            return s[:i], s[i:]
    return s, ""


@dataclass(frozen=True)
class NipExplanation:
    """A refused NIP as a form shows it: the digits typed, grouped as printed, the wrong ones marked."""

    code: str
    message: str
    # per group as printed (birth, appointment, gender, sequence): (digit, wrong)
    groups: tuple[tuple[tuple[str, bool], ...], ...]


NIP_GROUPS = ((1, 8), (9, 14), (15, 15), (16, 18))


def explain_nip(raw: str, *, today: date | None = None) -> NipExplanation | None:
    """None for a valid NIP. Otherwise which digits are wrong and why, for the form that refused it:
    people find a swapped digit faster when they see it marked."""
    try:
        parse_nip(raw, today=today)
    except InvalidNip as exc:
        nip = normalise_nip(raw)
        if exc.digits is not None:
            lo, hi = exc.digits
            wrong = [lo <= i + 1 <= hi for i in range(len(nip))]
        else:   # the length or a character: mark what is not a digit, or everything past the 18th
            wrong = [not (ch.isascii() and ch.isdigit()) or i >= 18 for i, ch in enumerate(nip)]
        marked = list(zip(nip, wrong, strict=True))
        groups = tuple(tuple(marked[lo - 1:hi]) for lo, hi in NIP_GROUPS if marked[lo - 1:hi])
        if len(marked) > 18:
            groups += (tuple(marked[18:]),)
        return NipExplanation(code=exc.code, message=exc.message, groups=groups)
    return None
