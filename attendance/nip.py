"""NIP (Nomor Induk Pegawai): the 18-digit civil-servant number, validated for what it encodes.

Layout: YYYYMMDD (birth date) + YYYYMM (appointment as CPNS) + G (1 male, 2 female) + NNN (sequence).
People often write it with spaces ("19850312 201001 1 001"); spaces are accepted and removed,
anything else that is not a digit is an error. Checking the embedded dates catches most typing
mistakes (a swapped digit usually makes a month 13 or a birth after the appointment).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

MIN_BIRTH_YEAR = 1940
MIN_APPOINTMENT_AGE = 15  # years between birth and appointment; CPNS must be 18, leave slack for typos in old records
MAX_APPOINTMENT_AGE = 60


class InvalidNip(ValueError):
    """A NIP that cannot be right. `code` is stable (for translations), `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class NipInfo:
    nip: str
    birth_date: date
    appointment_year: int
    appointment_month: int
    gender: str  # "M" | "F"
    sequence: int


def normalise_nip(raw: str) -> str:
    """Strip spaces (and the odd dot or dash used as a separator); keep digits only."""
    return "".join(ch for ch in str(raw).strip() if ch not in " .-\t")


def parse_nip(raw: str, *, today: date | None = None) -> NipInfo:
    """Return what the NIP encodes, or raise InvalidNip saying which part is wrong."""
    today = today or date.today()
    nip = normalise_nip(raw)
    if not nip:
        raise InvalidNip("empty", "NIP is empty")
    if not nip.isascii() or not nip.isdigit():
        raise InvalidNip("not_digits", f"NIP must contain digits only, got {raw!r}")
    if len(nip) != 18:
        raise InvalidNip("length", f"NIP must have 18 digits, got {len(nip)}")

    by, bm, bd = int(nip[0:4]), int(nip[4:6]), int(nip[6:8])
    ay, am = int(nip[8:12]), int(nip[12:14])
    g, seq = nip[14], int(nip[15:18])

    if not 1 <= bm <= 12:
        raise InvalidNip("birth_month", f"birth month {bm:02d} (digits 5-6) is not 01-12")
    try:
        birth = date(by, bm, bd)
    except ValueError:
        raise InvalidNip("birth_date", f"birth date {by:04d}-{bm:02d}-{bd:02d} (digits 1-8) does not exist") from None
    if by < MIN_BIRTH_YEAR or birth > today:
        raise InvalidNip("birth_year", f"birth year {by} (digits 1-4) is not plausible")
    if not 1 <= am <= 12:
        raise InvalidNip("appointment_month", f"appointment month {am:02d} (digits 13-14) is not 01-12")
    if (ay, am) > (today.year, today.month):
        raise InvalidNip("appointment_future", f"appointment {ay:04d}-{am:02d} (digits 9-14) is in the future")
    age_at_appointment = ay - by - ((am, 1) < (bm, bd))
    if not MIN_APPOINTMENT_AGE <= age_at_appointment <= MAX_APPOINTMENT_AGE:
        raise InvalidNip(
            "appointment_age",
            f"appointment {ay:04d}-{am:02d} at age {age_at_appointment} is not plausible "
            f"(birth {birth.isoformat()})",
        )
    if g not in "12":
        raise InvalidNip("gender", f"gender digit (digit 15) must be 1 (male) or 2 (female), got {g}")
    if seq == 0:
        raise InvalidNip("sequence", "sequence number (digits 16-18) cannot be 000")
    return NipInfo(nip=nip, birth_date=birth, appointment_year=ay, appointment_month=am,
                   gender="M" if g == "1" else "F", sequence=seq)


def is_valid_nip(raw: str) -> bool:
    try:
        parse_nip(raw)
    except InvalidNip:
        return False
    return True
