"""bench_apel_days' diagnosis and bounds: why present people were not marked automatically, split by what
the planners can act on (masked or not, how far back, East-Asian or Western face), and how much a count
of zero absentees marked present says."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scipy.stats import beta

NEVER = "never detected"
UNKNOWN = "detected, never named"
OTHER = "named as someone else"
NO_RECORD = "named right, no record"
REASONS = (NEVER, UNKNOWN, OTHER, NO_RECORD)


def upper95(k: int, n: int) -> float:
    """One-sided 95% upper bound on a rate seen k times in n: the rule of three at 0, Clopper-Pearson
    otherwise (the rule of three is what the issue's "at most 1 in 200" is usually read against)."""
    if n <= 0:
        return 1.0
    if k == 0:
        return min(1.0, 3.0 / n)
    if k >= n:
        return 1.0
    return float(beta.ppf(0.95, k + 1, n - k))


def depth_band(z: float) -> str:
    """The floor depth of a person, in half-metre bands (the camera check speaks of the back row)."""
    lo = int(z * 2) / 2
    return f"{lo:.1f}-{lo + 0.5:.1f} m"


@dataclass(frozen=True)
class PersonDay:
    """One present person on one day, as the diagnosis sees them."""
    day: int
    kind: str            # the office's kind
    face: str            # "East-Asian" (rmfd) or "Western"
    masked: bool
    row: int
    depth_m: float
    auto: bool
    reason: str | None   # why not marked automatically (None when marked)
    face_px: float | None  # median width of their detected face, if detected

    def groups(self) -> dict[str, str]:
        return {"mask": "masked" if self.masked else "unmasked", "row": f"row {self.row + 1}",
                "depth": depth_band(self.depth_m), "face": self.face, "face width": width_band(self.face_px)}


def width_band(px: float | None) -> str:
    """The detected face's median width against the camera check's floor (48 px)."""
    if px is None:
        return "not detected"
    for hi in (40, 48, 56, 64):
        if px < hi:
            return f"< {hi} px" if hi == 40 else f"{hi - 8}-{hi} px"
    return ">= 64 px"


def auto_reason(keys: list[str], named_of: dict[str, Counter], emp: int) -> str:
    """Why a present person has no automatic record: their tracks (by the truth), and what the pipeline
    called them (`named_of`: track -> person ids named in its frames)."""
    if not keys:
        return NEVER
    names: Counter = Counter()
    for k in keys:
        names.update(named_of.get(k, Counter()))
    if not names:
        return UNKNOWN
    if str(emp) in names:
        return NO_RECORD
    return OTHER


def _table(people: list[PersonDay], group: str) -> list[str]:
    by: dict[str, list[PersonDay]] = {}
    for p in people:
        by.setdefault(p.groups()[group], []).append(p)
    lines = [f"| {group} | present person-days | marked automatically | " + " | ".join(REASONS) + " |",
             "|---|---|---|" + "---|" * len(REASONS)]
    for g in sorted(by, key=lambda v: (len(v), v)):
        ps = by[g]
        auto = sum(p.auto for p in ps)
        why = Counter(p.reason for p in ps if p.reason)
        lines.append(f"| {g} | {len(ps)} | {auto} ({auto / len(ps):.1%}) | "
                     + " | ".join(str(why[r]) for r in REASONS) + " |")
    return lines


def diagnosis(people: Iterable[PersonDay], title: str) -> list[str]:
    """Markdown tables: present person-days and the reasons for the automatic misses, by mask, row,
    depth band and kind of face; then masked x face (where the day-1 gap sits)."""
    ps = list(people)
    if not ps:
        return []
    out = [f"\n{title}"]
    for group in ("mask", "face", "row", "depth", "face width"):
        out += [""] + _table(ps, group)
    out += ["", "| face, mask | present person-days | marked automatically | " + " | ".join(REASONS) + " |",
            "|---|---|---|" + "---|" * len(REASONS)]
    cells: dict[tuple[str, str], list[PersonDay]] = {}
    for p in ps:
        g = p.groups()
        cells.setdefault((g["face"], g["mask"]), []).append(p)
    for key in sorted(cells):
        c = cells[key]
        auto = sum(p.auto for p in c)
        why = Counter(p.reason for p in c if p.reason)
        out.append(f"| {key[0]}, {key[1]} | {len(c)} | {auto} ({auto / len(c):.1%}) | "
                   + " | ".join(str(why[r]) for r in REASONS) + " |")
    return out


def as_json(p: PersonDay) -> dict[str, Any]:
    return {"day": p.day, "kind": p.kind, "face": p.face, "masked": p.masked, "row": p.row,
            "depth_m": round(p.depth_m, 2), "auto": p.auto, "reason": p.reason, "face_px": p.face_px}
