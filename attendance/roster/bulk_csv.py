"""The roster CSV HR exports from a spreadsheet: read leniently where Excel differs, strictly where it matters."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from attendance.errors import Invalid, TooLarge
from attendance.roster.common import refuse_control_characters

MAX_CSV_ROWS = 10_000

COLUMN_ALIASES = {
    "nip": "nip",
    "name": "name", "nama": "name",
    "office_code": "office_code", "office": "office_code", "kode_opd": "office_code", "opd": "office_code",
    "kode_kantor": "office_code",
    "position": "position", "jabatan": "position",
    "active": "active", "aktif": "active",
}
REQUIRED_COLUMNS = ("nip", "name", "office_code")
TRUE_WORDS = {"", "1", "true", "yes", "y", "ya", "aktif", "active"}
FALSE_WORDS = {"0", "false", "no", "n", "tidak", "nonaktif", "inactive"}


@dataclass
class RosterRow:
    line: int
    nip: str
    name: str
    office_code: str
    position: str | None
    active: bool


def _decode_csv(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Invalid("csv_encoding", "the CSV is UTF-16; save it as 'CSV UTF-8 (comma delimited)'")
    if b"\x00" in data:
        raise Invalid("csv_encoding", "the CSV contains NUL bytes: it is not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Invalid("csv_encoding",
                      f"the CSV is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
                      "save it as 'CSV UTF-8 (comma delimited)'") from None


def parse_roster_csv(data: bytes, *, default_office: str | None = None,
                     max_bytes: int = 5 * 1024 * 1024) -> tuple[list[RosterRow], list[str]]:
    """CSV with a header: nip, name (nama), office_code (kode_opd), optional position (jabatan),
    active (aktif). Comma or semicolon separated (Excel in Indonesian locale writes ';').
    Raises Invalid for a file that cannot be read at all (encoding, columns); returns the rows and
    the per-line problems, so HR sees every problem of the file at once."""
    if len(data) > max_bytes:
        raise TooLarge("too_large", f"the CSV is {len(data):,} bytes; the limit is {max_bytes:,}")
    text = _decode_csv(data)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise Invalid("csv_empty", "the CSV is empty (a header line is needed: nip,name,office_code,position)")
    header_line = lines[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise Invalid("csv_format", f"the CSV header cannot be read: {exc}") from None
    cols: list[str] = []
    unknown: list[str] = []
    for raw in header:
        key = raw.strip().lower().replace(" ", "_")
        if key not in COLUMN_ALIASES:
            unknown.append(raw.strip() or "(empty)")
        cols.append(COLUMN_ALIASES.get(key, key))
    required = [c for c in REQUIRED_COLUMNS if not (c == "office_code" and default_office)]
    missing = [c for c in required if c not in cols]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if unknown or missing or dupes:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(unknown)}")
        if dupes:
            parts.append(f"repeated column(s): {', '.join(dupes)}")
        raise Invalid("csv_columns", "wrong CSV columns: " + "; ".join(parts) +
                      " (expected: nip, name, office_code, and optionally position, active)",
                      details={"missing": missing, "unknown": unknown, "repeated": dupes, "found": header})
    rows: list[RosterRow] = []
    errors: list[str] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_CSV_ROWS:
                raise Invalid("csv_too_many_rows", f"the CSV has more than {MAX_CSV_ROWS} rows")
            if len(values) != len(cols):
                errors.append(f"line {line}: {len(values)} fields, expected {len(cols)}")
                continue
            rec = {c: v.strip() for c, v in zip(cols, values, strict=True)}
            try:
                for c, v in rec.items():
                    refuse_control_characters(v, c)
            except Invalid as exc:
                errors.append(f"line {line}: {exc.message}")
                continue
            active_word = rec.get("active", "").lower()
            if active_word not in TRUE_WORDS | FALSE_WORDS:
                errors.append(f"line {line}: active must be yes/no (ya/tidak), got {rec['active']!r}")
                continue
            rows.append(RosterRow(line=line, nip=rec["nip"], name=rec.get("name", ""),
                                  office_code=rec.get("office_code") or (default_office or ""),
                                  position=rec.get("position") or None, active=active_word in TRUE_WORDS))
    except csv.Error as exc:
        raise Invalid("csv_format", f"the CSV is malformed near line {reader.line_num}: {exc}") from None
    return rows, errors
