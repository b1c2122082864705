"""NIP parsing: every part of the number is checked, and each mistake says which part is wrong."""
from __future__ import annotations

from datetime import date

import pytest

from attendance.nip import InvalidNip, is_valid_nip, parse_nip

TODAY = date(2026, 11, 28)


def test_parses_every_part() -> None:
    info = parse_nip("198503122010011001", today=TODAY)
    assert info.birth_date == date(1985, 3, 12)
    assert (info.appointment_year, info.appointment_month) == (2010, 1)
    assert info.gender == "M" and info.sequence == 1
    assert parse_nip("199001052015032002", today=TODAY).gender == "F"


def test_accepts_the_usual_spaced_spelling() -> None:
    assert parse_nip(" 19850312 201001 1 001 ", today=TODAY).nip == "198503122010011001"


@pytest.mark.parametrize(("nip", "code"), [
    ("", "empty"),
    ("19850312201001100", "length"),            # 17 digits
    ("1985031220100110011", "length"),          # 19 digits
    ("19850312201001100A", "not_digits"),
    ("１９８５０３１２２０１００１１００１", "not_digits"),  # full-width digits are not ASCII
    ("198513122010011001", "birth_month"),      # month 13
    ("198502302010011001", "birth_date"),       # 30 February
    ("185003122010011001", "birth_year"),       # born 1850
    ("198503122010131001", "appointment_month"),
    ("198503122010001001", "appointment_month"),  # month 00
    ("198503122030011001", "appointment_future"),
    ("198503121990011001", "appointment_age"),  # appointed at 4
    ("198503122010013001", "gender"),
    ("198503122010010001", "gender"),
    ("198503122010011000", "sequence"),
])
def test_rejects_with_the_wrong_part_named(nip: str, code: str) -> None:
    with pytest.raises(InvalidNip) as exc:
        parse_nip(nip, today=TODAY)
    assert exc.value.code == code
    assert exc.value.message


def test_leap_day_birth_is_valid_only_in_leap_years() -> None:
    assert is_valid_nip("198402292010011001")
    assert not is_valid_nip("198502292010011001")
