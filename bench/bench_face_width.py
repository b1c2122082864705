"""Identification and wrong names against the face's width in pixels: the camera check's floor.

How a face's size in the frame decides whether the live pipeline names it, measured on real
photos (../shared/data, read in place) with the default recogniser (dlib+faceres) through the
whole live path: detector, tracker, landmarks, recogniser, votes, one-person-per-face assignment
and the fitted thresholds (attendance.vision.pipeline.OfficePipeline, live configuration).

An office trial: a roster enrolled from full-size photos (with the product's masked variants),
a few of them away, a few strangers in view. Each probe photo (a photo of a present person that
was not used for enrolment, or a stranger's) is scaled so the detector's box around its face is
N px wide and placed in a cell of a grey frame, all of one office in one frame (a camera frame of
the apel at that face size). The frame is fed to the pipeline FRAMES times, EMBED_GAP_S apart, with
fresh sensor noise and a JPEG round trip each time (a stand-in for the video codec) and the whole
embedding budget at once: every face gets its first view on the first frame and, if still unnamed,
another on each later one, as the live pipeline gives them over its first seconds (a named face's
confirmation views come seconds later and are not waited for). The names of the last frame are
scored cell by cell. Same offices, same probes at every width; the
same-run baseline is the probes at the size of their photo ("full"; faces wider than FULL_CAP_PX,
a few fr_examples photos, scaled down to it).

Sets:
- Western: faces/lfw10 + faces/fr_examples knn (5 people) + faces/openface (2): 1 enrolment photo.
- East-Asian: faces/rmfd, 20-person rosters, 3 enrolment photos.
- Masked (synthetic pairs): masks/synthetic_pairs, enrol the unmasked photo, probe the masked one.
- East-Asian masked (painted tan): rmfd probes with a tan mask painted from their landmarks (a
  colour the enrolment variants never use), 3 enrolment photos.

The floor it fits (`fit_floor`) is what attendance/vision/camera_check.py holds as FLOOR_PX
(unmasked) and MASKED_FLOOR_PX: the smallest width from which on every wider face is identified
at least FLOOR_SHARE of the full-size baseline, pooled over the sets of that kind, without more
wrong names than the baseline plus FLOOR_WRONG_SLACK.

Run: nice -n 10 .venv/bin/python bench/bench_face_width.py [--trials 4] [--widths 24,32,...]"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attendance.vision.config import FUSED_BACKEND, PipelineConfig
from attendance.vision.detect.detector import DetectorConfig, detect_faces
from attendance.vision.faces import landmarks68, paint_mask
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.recognise.recognisers import make_recogniser
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.training.protocol import DATA, embed_paths, identities
from attendance.vision.types import RosterPerson

WIDTHS = (24, 32, 40, 48, 64, 80, 100, 140)
FULL = 0                      # the baseline: probes at the size of their photo ...
FULL_CAP_PX = 200             # ... or this wide where the photo's face is wider (fr_examples)
FRAMES = 2
EMBED_GAP_S = 0.4             # PipelineConfig.embed_interval_s: an unnamed face's next view
NOISE_SD = 2.0                # grey levels of sensor noise added to every frame
TAN_RGB = (196, 164, 120)     # not among faces.MASK_COLOURS_RGB (the enrolment variants)
FLOOR_SHARE = 0.9
FLOOR_WRONG_SLACK = 0.01


@dataclass
class Probe:
    """One probe photo ready to be scaled: the image and the detector's box of its face."""
    who: str | None           # roster id, or None for a stranger
    image: np.ndarray
    box: tuple[int, int, int, int]


@dataclass
class Office:
    roster: list[RosterPerson]
    probes: list[Probe]
    absent: set[str]


@dataclass
class Tally:
    present: int = 0
    detected: int = 0
    identified: int = 0
    wrong: int = 0
    strangers: int = 0
    strangers_named: int = 0
    absent: int = 0
    absent_named: int = 0
    widths: list[int] = field(default_factory=list)

    def add(self, o: Tally) -> None:
        for k in ("present", "detected", "identified", "wrong", "strangers", "strangers_named", "absent",
                  "absent_named"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        self.widths += o.widths

    def rates(self) -> dict[str, float]:
        n = max(1, self.present)
        return {"present": self.present, "detected": self.detected / n, "identified": self.identified / n,
                "wrong": self.wrong / n, "named_of_detected": self.identified / max(1, self.detected),
                "strangers": self.strangers,
                "strangers_named": self.strangers_named / max(1, self.strangers),
                "absent": self.absent, "absent_named": self.absent_named / max(1, self.absent),
                "median_box": float(np.median(self.widths)) if self.widths else float("nan")}


# -- data -------------------------------------------------------------------------------------
def face_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """The detector's box of the photo's largest face, found on a grey-padded copy (tight crops,
    rmfd, need the margin), in the photo's coordinates."""
    h, w = rgb.shape[:2]
    pad = int(0.3 * max(h, w))
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(120, 120, 120))
    cfg = DetectorConfig(min_face_px=max(20, min(h, w) // 5), use_cnn_check=False)
    found = detect_faces(padded, cfg)
    if not found:
        return None
    (x, y, bw, bh), _ = max(found, key=lambda f: f[0][2])
    return x - pad, y - pad, bw, bh


def load_probe(path: Path, who: str | None, box_from: Path | None = None, paint: bool = False) -> Probe | None:
    rgb = read_image_rgb(path)
    box = face_box(read_image_rgb(box_from) if box_from is not None else rgb)
    if box is None:
        return None
    if paint:
        rgb = paint_mask(rgb, landmarks68(rgb, box), TAN_RGB)
    return Probe(who, rgb, box)


def enrolled(pid: str, paths: list[Path]) -> RosterPerson | None:
    """The person as the roster enrols them: their photos, then the photos' masked variants."""
    embs = embed_paths(paths, masked=True, recogniser=FUSED_BACKEND)
    ok = [e for e in (embs[p] for p in paths) if e is not None]
    if not ok:
        return None
    return person(pid, [e for e, _ in ok] + [m for _, ms in ok for m in ms], len(ok))


def person(pid: str, rows: list[np.ndarray], n_photos: int) -> RosterPerson:
    return RosterPerson(pid, np.stack(rows).astype(np.float32),
                        ("photo",) * n_photos + ("masked",) * (len(rows) - n_photos))


def western_people() -> dict[str, list[Path]]:
    ids = {f"lfw/{k}": v for k, v in identities(DATA / "faces/lfw10").items()}
    fr = DATA / "faces/fr_examples/knn_examples"
    for d in sorted((fr / "train").iterdir()):
        ids[f"fr/{d.name}"] = sorted(d.iterdir())
    of = DATA / "faces/openface"
    for name in ("clapton", "lennon"):
        ids[f"openface/{name}"] = sorted(of.glob(f"{name}-*.jpg"))
    return ids


def synthetic_pairs(limit: int) -> list[tuple[Path, Path]]:
    d = DATA / "masks/synthetic_pairs"
    rows = [ln.split(",") for ln in (d / "synthetic_pairs.csv").read_text().splitlines()[1:] if ln.strip()]
    return [(d / u, d / m.strip()) for u, m in rows][:limit]


def offices_from_people(people: dict[str, list[Path]], n_enrol: int, roster_n: int, n_away: int, n_strangers: int,
                        trials: int, seed: int, paint: bool = False,
                        strangers_pool: list[Path] | None = None) -> list[Office]:
    """Offices of people with several photos: enrol n_enrol photos, probe one other."""
    rng = np.random.default_rng(seed)
    usable = {k: v for k, v in people.items() if len(v) > n_enrol}
    out = []
    for _ in range(trials):
        pick = [str(p) for p in rng.permutation(sorted(usable))]
        ids, others = pick[:roster_n], pick[roster_n:]
        roster, probes = [], []
        away = set(ids[:n_away])
        for pid in ids:
            ph = [usable[pid][i] for i in rng.permutation(len(usable[pid]))]
            enrolled_as = enrolled(pid, ph[:n_enrol])
            if enrolled_as is None:
                continue
            roster.append(enrolled_as)
            if pid in away:
                continue
            for cand in ph[n_enrol:]:
                pr = load_probe(cand, pid, paint=paint)
                if pr is not None:
                    probes.append(pr)
                    break
        pool = [usable[o][int(rng.integers(len(usable[o])))] for o in others] if strangers_pool is None else \
            [strangers_pool[i] for i in rng.permutation(len(strangers_pool))]
        for cand in pool:
            if sum(p.who is None for p in probes) >= n_strangers:
                break
            pr = load_probe(cand, None, paint=paint)
            if pr is not None:
                probes.append(pr)
        out.append(Office(roster, probes, {p.person_id for p in roster} & away))
    return out


def offices_from_pairs(pairs: list[tuple[Path, Path]], roster_n: int, n_away: int, n_strangers: int,
                       trials: int, seed: int) -> list[Office]:
    """Offices of masks/synthetic_pairs: enrol the unmasked photo, probe the masked one (its
    box from the unmasked twin: the same photo, so the same face)."""
    rng = np.random.default_rng(seed)
    embs = embed_paths([u for u, _ in pairs], masked=True, recogniser=FUSED_BACKEND)
    usable = [(u, m) for u, m in pairs if embs[u] is not None]
    out = []
    for _ in range(trials):
        order = [usable[i] for i in rng.permutation(len(usable))]
        ids, others = order[:roster_n], order[roster_n:]
        roster, probes = [], []
        away = {str(u) for u, _ in ids[:n_away]}
        for u, m in ids:
            e = embs[u]
            assert e is not None
            roster.append(person(str(u), [e[0], *e[1]], 1))
            if str(u) not in away:
                pr = load_probe(m, str(u), box_from=u)
                if pr is not None:
                    probes.append(pr)
        for u, m in others:
            if sum(p.who is None for p in probes) >= n_strangers:
                break
            pr = load_probe(m, None, box_from=u)
            if pr is not None:
                probes.append(pr)
        out.append(Office(roster, probes, away))
    return out


# -- one office at one width ------------------------------------------------------------------
def scaled(pr: Probe, width: int) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The probe scaled so its face box is `width` px (FULL: as it is, up to FULL_CAP_PX): image,
    face centre, box."""
    x, y, w, h = pr.box
    s = min(1.0, FULL_CAP_PX / w) if width == FULL else width / w
    img = pr.image if s == 1.0 else cv2.resize(pr.image, None, fx=s, fy=s,
                                               interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return img, ((x + w / 2) * s, (y + h / 2) * s, w * s)


def mosaic(probes: list[Probe], width: int, cols: int = 6) -> tuple[np.ndarray, int, int, list[float]]:
    """All probes in one grey frame, each face centred in a cell three boxes wide."""
    items = [scaled(p, width) for p in probes]
    cell = int(np.ceil(3 * max(b for _, (_, _, b) in items)))
    rows = -(-len(items) // cols)
    frame = np.full((rows * cell, cols * cell, 3), 120, np.uint8)
    for i, (img, (cx, cy, _)) in enumerate(items):
        r, c = divmod(i, cols)
        ox, oy = int(c * cell + cell / 2 - cx), int(r * cell + cell / 2 - cy)
        x0, y0 = max(ox, c * cell), max(oy, r * cell)
        x1, y1 = min(ox + img.shape[1], (c + 1) * cell), min(oy + img.shape[0], (r + 1) * cell)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = img[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return frame, cell, cols, [b for _, (_, _, b) in items]


def camera_frame(base_rgb: np.ndarray, rng: np.random.Generator, jpeg: int) -> np.ndarray:
    """One frame as the pipeline receives it (BGR): noise, then a lossy round trip."""
    noisy = np.clip(base_rgb.astype(np.float32) + rng.normal(0, NOISE_SD, base_rgb.shape), 0, 255).astype(np.uint8)
    bgr = np.ascontiguousarray(noisy[:, :, ::-1])
    if jpeg > 0:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        assert ok
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert decoded is not None
        return decoded
    return bgr


def run(office: Office, width: int, recogniser, jpeg: int, seed: int) -> Tally:
    frame, cell, cols, boxes = mosaic(office.probes, width)
    smallest = min(boxes)
    # An office that gave its back row's distance searches down to a bit under its smallest face
    # (OfficePipeline.smallest_face_px); here the smallest face is known.
    cfg = PipelineConfig(min_face_px=max(16, int(0.7 * smallest)), quick_first_frame=False,
                         max_embeds_per_frame=len(office.probes) * 2)
    pipe = OfficePipeline(office.roster, cfg, recogniser=recogniser)
    rng = np.random.default_rng(seed)
    result = None
    for k in range(FRAMES):
        result = pipe.process(camera_frame(frame, rng, jpeg), k * EMBED_GAP_S)
    assert result is not None
    by_cell: dict[int, list] = {}
    for f in result.faces:
        x, y, w, h = f.box
        c = int((y + h / 2) // cell) * cols + int((x + w / 2) // cell)
        by_cell.setdefault(c, []).append(f)
    t = Tally(absent=len(office.absent))
    for i, pr in enumerate(office.probes):
        faces = sorted(by_cell.get(i, []), key=lambda f: -f.box[2])
        name = next((f.person_id for f in faces if f.person_id is not None), None)
        t.absent_named += name in office.absent
        if faces:
            t.widths.append(faces[0].box[2])
        if pr.who is None:
            t.strangers += 1
            t.strangers_named += name is not None
            continue
        t.present += 1
        t.detected += bool(faces)
        if name == pr.who:
            t.identified += 1
        elif name is not None:
            t.wrong += 1
    return t


# -- the floor --------------------------------------------------------------------------------
def fit_floor(curve: dict[int, dict[str, float]]) -> int | None:
    """The smallest width from which on every wider one is identified at least FLOOR_SHARE of the
    full-size baseline, with at most FLOOR_WRONG_SLACK more wrong names. curve: width -> rates
    (FULL = the baseline)."""
    base = curve[FULL]
    floor = None
    for w in sorted((w for w in curve if w != FULL), reverse=True):
        r = curve[w]
        if r["identified"] >= FLOOR_SHARE * base["identified"] and r["wrong"] <= base["wrong"] + FLOOR_WRONG_SLACK:
            floor = w
        else:
            break
    return floor


def fmt(label: str, r: dict[str, float]) -> str:
    return (f"  {label:>5}  box {r['median_box']:6.1f}  present {r['present']:>4}  "
            f"detected {r['detected']:6.1%}  identified {r['identified']:6.1%} "
            f"({r['named_of_detected']:6.1%} of detected)  wrong {r['wrong']:5.1%}  "
            f"strangers named {r['strangers_named']:5.1%} of {r['strangers']}  "
            f"absentees named {r['absent_named']:5.1%} of {r['absent']}")


def pooled_floors(curves: dict[str, dict[int, dict[str, float]]], kinds: dict[str, str]) -> None:
    """Pool sets of one kind (counts from rates and sizes) and print each kind's curve and floor."""
    for kind in ("unmasked", "masked"):
        names = [n for n in curves if kinds.get(n) == kind]
        if not names:
            continue
        print(f"\n pooled {kind} ({', '.join(names)})")
        curve: dict[int, dict[str, float]] = {}
        for w in sorted(set.intersection(*(set(curves[n]) for n in names))):
            rs = [curves[n][w] for n in names]
            n = sum(r["present"] for r in rs)
            det = sum(r["detected"] * r["present"] for r in rs)
            curve[w] = {"present": n, "detected": det / max(1, n),
                        "identified": sum(r["identified"] * r["present"] for r in rs) / max(1, n),
                        "wrong": sum(r["wrong"] * r["present"] for r in rs) / max(1, n),
                        "named_of_detected": sum(r["identified"] * r["present"] for r in rs) / max(1, det),
                        "strangers": sum(r["strangers"] for r in rs),
                        "strangers_named": sum(r["strangers_named"] * r["strangers"] for r in rs)
                        / max(1, sum(r["strangers"] for r in rs)),
                        "absent": sum(r["absent"] for r in rs),
                        "absent_named": sum(r["absent_named"] * r["absent"] for r in rs)
                        / max(1, sum(r["absent"] for r in rs)),
                        "median_box": float(np.median([r["median_box"] for r in rs]))}
            print(fmt("full" if w == FULL else str(w), curve[w]))
        floor = fit_floor(curve) if FULL in curve else "?"
        print(f"  floor ({kind}): {floor} px (identified >= {FLOOR_SHARE:.0%} of full size, "
              f"wrong <= full + {FLOOR_WRONG_SLACK:.0%}, at this width and every wider one)")


def merge(files: list[Path]) -> None:
    curves: dict[str, dict[int, dict[str, float]]] = {}
    kinds: dict[str, str] = {}
    for f in files:
        data = json.loads(f.read_text())
        for name, curve in data["curves"].items():
            if name in data.get("kinds", {}):   # a set's widths may come from several runs
                curves.setdefault(name, {}).update({int(w): r for w, r in curve.items()})
                kinds[name] = data["kinds"][name]
    pooled_floors(curves, kinds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    ap.add_argument("--jpeg", type=int, default=80, help="JPEG quality of each frame's round trip (0: none)")
    ap.add_argument("--sets", default="western,east,masked,east_masked")
    ap.add_argument("--pairs", type=int, default=120, help="synthetic pairs used (enrolment cost)")
    ap.add_argument("--no-full", action="store_true", help="skip the full-size baseline (a run that splits "
                    "the widths of a set with another run, which has it; --merge joins them)")
    ap.add_argument("--json", type=Path, help="write the curves here")
    ap.add_argument("--merge", type=Path, nargs="*", help="pool the curves of earlier runs' --json files and "
                    "fit the floors (runs of different sets, side by side)")
    a = ap.parse_args()
    if a.merge:
        merge(a.merge)
        return
    widths = [*([] if a.no_full else [FULL]), *(int(w) for w in a.widths.split(","))]
    t0 = time.time()
    rec = make_recogniser(FUSED_BACKEND)
    west = western_people()
    rmfd = identities(DATA / "faces/rmfd", 4)
    pairs = synthetic_pairs(a.pairs)
    strangers_w = [m for m, _ in pairs[: 40]]   # unmasked photos of people on no Western roster
    makers = {
        "western": ("unmasked", lambda: offices_from_people(west, 1, len(west), 3, 4, a.trials, 11,
                                                            strangers_pool=strangers_w)),
        "east": ("unmasked", lambda: offices_from_people(rmfd, 3, 20, 4, 4, a.trials, 12)),
        "masked": ("masked", lambda: offices_from_pairs(pairs[40:], 20, 4, 4, a.trials, 13)),
        "east_masked": ("masked", lambda: offices_from_people(rmfd, 3, 20, 4, 4, a.trials, 12, paint=True)),
    }
    curves: dict[str, dict[int, dict[str, float]]] = {}
    kinds: dict[str, str] = {}
    for name in a.sets.split(","):
        kind, make = makers[name]
        kinds[name] = kind
        offices = make()
        print(f"\n{name} ({kind}): {a.trials} offices, {sum(len(o.probes) for o in offices)} probe faces "
              f"({time.time() - t0:.0f} s)", flush=True)
        curves[name] = {}
        for w in widths:
            tot = Tally()
            for i, o in enumerate(offices):
                tot.add(run(o, w, rec, a.jpeg, seed=100 + i))
            curves[name][w] = tot.rates()
            print(fmt("full" if w == FULL else str(w), curves[name][w]), flush=True)
            if a.json:   # after every width: a run stopped early still gives what it measured
                a.json.write_text(json.dumps({"curves": {k: {str(x): r for x, r in v.items()}
                                                         for k, v in curves.items()}, "kinds": kinds}, indent=1))
    pooled_floors(curves, kinds)
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
