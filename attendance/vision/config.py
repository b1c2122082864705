"""The formation's row lines (office setting `row_lines_m`): how far from the camera, along the floor,
each line the apel's rows stand on lies, measured by the operator with a tape. The distance fit
holds a row standing on a line to that line's depth (attendance.vision.geometry.distance).

The rule and the typed form ("3; 4,5; 6") live here once, for every place that takes them: the
roster (API and office page), PipelineConfig, `apel office create` and `apel analyze`. Pure Python,
so the roster can use it without loading the vision stack."""
from __future__ import annotations

import re
from numbers import Real

ROW_LINES_RANGE_M = (0.5, 30.0)   # each line's distance from the camera (the back row's range, from nearer)
ROW_LINES_MAX = 12                 # more lines than an apel has rows is a slip of the keyboard
ROW_LINES_MIN_GAP_M = 0.3          # two rows of people cannot stand closer than a body's depth
# Neighbouring rows closer than this many times the office's minimum distance are "at the limit":
# people standing right behind one another keep the distance only while nobody steps toward the
# other row, and a step of 5-15 cm is more than the camera can see at 4-6 m (BENCHMARKS.md,
# "Distance: where the errors are": every missed or false violation across rows is such a step).
ROWS_AT_LIMIT_FACTOR = 1.2


def check_row_lines(lines: object) -> tuple[float, ...]:
    """The lines as floats sorted front to back, or ValueError saying what is wrong. Only numbers
    are taken (not "3", not True): a list from JSON that holds anything else is a client's mistake,
    not something to guess at. The message does not name the field; each caller adds its own name."""
    if not isinstance(lines, (list, tuple)):
        raise ValueError(f"the row lines must be a list of distances in metres, front row first, got {lines!r}")
    lo, hi = ROW_LINES_RANGE_M
    for x in lines:
        if isinstance(x, bool) or not isinstance(x, Real):
            raise ValueError(f"each row line must be a number of metres, got {x!r}")
        if not lo <= x <= hi:   # also refuses NaN; compared before float() so a huge integer cannot overflow
            raise ValueError(f"each row line must be between {lo:g} and {hi:g} metres from the camera, got {x}")
    if not 1 <= len(lines) <= ROW_LINES_MAX:
        raise ValueError(f"give between 1 and {ROW_LINES_MAX} row lines, got {len(lines)}")
    out = tuple(sorted(float(x) for x in lines))
    for a, b in zip(out, out[1:]):
        if b - a < ROW_LINES_MIN_GAP_M - 1e-9:
            raise ValueError(f"row lines must be at least {ROW_LINES_MIN_GAP_M:g} m apart, got {a:g} and {b:g}")
    return out


_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)?")


def parse_row_lines(text: str) -> list[float]:
    """The lines as an operator types them: separated by semicolons or spaces, decimals with a
    comma or a dot ("3; 4,5; 6" and "3 4.5 6" are both [3, 4.5, 6]); blank gives []. Only plain
    numbers are read, so "3, 4, 5" or "3,4,5" (commas as separators) is refused, not guessed at;
    check_row_lines judges the numbers."""
    out = []
    for part in re.split(r"[;\s]+", text.strip()):
        if not part:
            continue
        if not _NUMBER.fullmatch(part):
            raise ValueError(f"cannot read {part!r} as a distance in metres; separate the row lines "
                             "with semicolons, e.g. 3; 4,5; 6")
        out.append(float(part.replace(",", ".")))
    return out


def read_row_lines(text: str) -> tuple[float, ...]:
    """The lines as typed on a command line ("3; 4,5; 6"), read and judged: sorted front to back,
    or ValueError saying what is wrong (blank is wrong too: an option given must hold lines)."""
    return check_row_lines(parse_row_lines(text))


def format_row_lines(lines: list[float] | tuple[float, ...] | None) -> str:
    """The lines as parse_row_lines reads them back ("3; 4.5; 6"); "" when unknown. Each number in
    full (repr, not :g), so saving the office form unchanged writes back exactly what was stored."""
    return "; ".join(s[:-2] if s.endswith(".0") else s for s in (repr(float(x)) for x in lines or ()))


def rows_at_the_limit(lines: list[float] | tuple[float, ...] | None, min_distance_m: float) -> tuple[float, float] | None:
    """The first pair of neighbouring row lines (front, back) spaced less than ROWS_AT_LIMIT_FACTOR
    times the minimum distance apart, or None. Advice, not a rule: such a formation is allowed, but
    the operator should know that distancing between those rows rests on centimetres the camera
    cannot judge, and that marking the rows further apart is what keeps them apart."""
    ordered = sorted(float(x) for x in lines or ())
    for a, b in zip(ordered, ordered[1:]):
        if b - a < ROWS_AT_LIMIT_FACTOR * min_distance_m - 1e-9:
            return a, b
    return None


def rows_at_the_limit_advice(lines: list[float] | tuple[float, ...] | None, min_distance_m: float) -> dict[str, str] | None:
    """The fields of the advice (catalogue key "offices.rows_at_limit": front, back, gap, min,
    advice), formatted as the office page shows numbers, for the first pair `rows_at_the_limit`
    finds; None when there is none. One place for the office page and `apel office create`."""
    pair = rows_at_the_limit(lines, min_distance_m)
    if pair is None:
        return None
    front, back = pair
    return {"front": format_row_lines([front]), "back": format_row_lines([back]),
            "gap": format_row_lines([round(back - front, 2)]), "min": str(float(min_distance_m)),
            "advice": format_row_lines([round(ROWS_AT_LIMIT_FACTOR * min_distance_m, 2)])}
