"""Masked faces in mask styles the product's enrolment never paints, each photo judged on its own.

Why: the held-back check painted masks the way enrolment's own variants look (a plain fill of
faces.mask_polygon) in colours enrolment does not use, and named fewer masked people and gave
wrong names where masks/synthetic_pairs gave none. This bench paints, from each probe photo's
68 landmarks (bench/mask_styles.py), masks enrolment never makes: a pleated surgical rectangle,
contoured woven cloth, a KN95 outline, batik (kawung, parang) drawn procedurally, and masks cut
from real photos of masked people (masks/real) carried onto the face by its landmarks.

Protocol: people are enrolled from photos other than the probe (Western: lfw10 + fr_examples +
openface, 1 photo; East-Asian: faces/rmfd, 3 photos); every other photo of each, masked in the
style, is a probe judged on its own (one face in view: assign's first round only), against a
roster of 13 (Western) or 20 (rmfd) people. People not enrolled are probed too: a name given to
one of them is the absentee-style error (an absent colleague marked present in their place).
The masked probe is aligned from its own (masked) face's 5 landmarks, as the pipeline does; the
mask is painted from the unmasked photo's 68 landmarks (the truth of where the mask sits).

Styles are split in two: FIT styles (the covered way's limits are fitted on them, `--fit`, and
on the people of FIT_HALF by a hash of the name) and REPORT styles (the figures the targets are
read on; rmfd on the other half's people only, Western on all its 17 and on the other half alone).
The "held-back look" row repeats the held-back check's look (enrolment's shape, plain tan); it
was used for neither. The probes are judged here on centroids as recognisers.Gallery builds them
and by assign's first-round rule (one face in view), vectorised so that `--fit` can search.

Methods, same probes, same run:
- "current": the committed way before (three plain masked variants, every probe compared with
  every centroid, the recogniser's own limits): the baseline.
- "covered": the product now (recognise/occluded.py): a probe the mask classifier calls masked
  is covered by a plain mask and judged by the mean of (as it is, to the photo centroid) and
  (covered, to the centroid of enrolment's masked variants) with the "covered" limits.
- "covered, cover as the variant": the same with enrolment's three variants replaced by the
  cover itself (tried: no better on masked faces, more people not enrolled named when unmasked).

A recogniser without "covered" limits compares a masked face as it is ("current"); where it has
"<backend> masked" limits (occluded.masked_thresholds), a probe the mask classifier calls masked
(P >= PipelineConfig.mask_threshold) is judged with them and the others with the recogniser's own,
as pipeline._decide does. `--fit-masked` fits them (FIT styles, FIT_HALF people, the covered fit's
criteria) and writes them unless `--no-write`.

`--recogniser SPEC` ("dlib+faceres", the default, or "arcface" / "dlib+faceres+arcface") picks
the fused recogniser the probes and enrolment are embedded with, whose limits they are judged by
and whose "<backend> covered" limits `--fit` writes. Every fused recogniser's FaceRes half is of
dlib's chip, so the mask classifier reads it as the pipeline does (pipeline._observe).

Run: .venv/bin/python bench/bench_masked_styles.py [--recogniser SPEC] [--trials 20] [--fit]
[--fit-masked] [--no-write] [--only western|rmfd] [--compute-only]; embeddings are cached in
/tmp/apel-vision-masked-styles (keys of recognisers other than the default carry the backend, so the two never mix)."""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mask_styles as S
from bench_recognition import western

from attendance.vision.config import PipelineConfig, backend_name
from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import (
    MASK_COLOURS_RGB,
    face_chip,
    landmarks5,
    landmarks68,
    paint_mask,
    recogniser_chip,
)
from attendance.vision.mask import default_classifier
from attendance.vision.recognise.occluded import COVER_COLOUR, cover_mask, covered_chips, masked_thresholds
from attendance.vision.recognise.recognisers import (
    MODELS_DIR,
    FusedRecogniser,
    MatchThresholds,
    make_recogniser,
)
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.training.protocol import DATA, embed_paths, identities

CACHE = Path("/tmp/apel-vision-masked-styles")

FIT_STYLES: dict[str, S.Painter] = {
    "surgical green": S.surgical((150, 200, 170), (115, 160, 135)),
    "cloth grey-blue": S.cloth((95, 110, 130)),
    "batik parang": S.batik("parang", (230, 215, 180), (60, 40, 90), (140, 70, 30)),
}
REPORT_STYLES: dict[str, S.Painter] = {
    "surgical pink": S.surgical((225, 160, 185), (190, 120, 150)),
    "cloth maroon": S.cloth((120, 35, 45)),
    "cloth olive": S.cloth((110, 115, 60)),
    "KN95 white": S.kn95((238, 236, 230)),
    "batik kawung": S.batik("kawung", (225, 200, 150), (90, 50, 25), (40, 30, 60)),
}
HELD_BACK_LOOK: dict[str, S.Painter] = {"plain tan (held-back look)": S.plain((200, 170, 130))}
# Real masks: photos of masks/real/with_mask whose largest face is big enough to cut from and
# that the mask classifier calls masked; split by a hash of the file name into fit and report.
REAL_FIT, REAL_REPORT = "real masks (fit)", "real masks (report)"
N_REAL = 24


# The recogniser the run measures (main's --recogniser): its backend name keys its templates,
# its limits and its covered limits.
BACKEND = FusedRecogniser.name


def use_recogniser(spec: str) -> None:
    """Measure the fused recogniser `spec`; only fused ones (FaceRes's half feeds the mask
    classifier)."""
    global BACKEND
    name = backend_name(spec)
    if not isinstance(make_recogniser(name), FusedRecogniser):
        raise SystemExit(f"{spec}: not a fused recogniser (dlib+faceres or dlib+faceres+arcface)")
    BACKEND = name


def covered_key() -> str:
    return f"{BACKEND} covered"


def masked_key() -> str:
    """The limits of a masked face compared as it is (occluded.masked_thresholds)."""
    return f"{BACKEND} masked"


def backend_tag() -> str:
    """What cache keys add for the recogniser: nothing for the default (its cache stays valid)."""
    return "" if BACKEND == FusedRecogniser.name else f"|{BACKEND}"


def thresholds_file() -> dict:
    p = MODELS_DIR / "thresholds.json"
    return json.loads(p.read_text()) if p.exists() else {}


def half(name: str) -> str:
    """People split in two by a hash of the name: B (fitted on, FIT_HALF) and A (reported)."""
    return "A" if zlib.crc32(name.encode()) % 2 == 0 else "B"


FIT_HALF = "B"
# Sets reported on the other half's people only (enough people for a 20-person office and 10
# not enrolled): rmfd. Western has too few people (17), so it is reported on all of them in the
# report styles, and on the other half alone in a row of its own.
REPORT_HALF_ONLY = {"rmfd"}
# The styles run on each set (None: all). rmfd's are fewer for time: on a machine shared with
# other jobs (load 20-27 on 2 cores) each style of rmfd took ~10 minutes to embed.
SET_STYLES: dict[str, set[str] | None] = {
    "western": None,
    "rmfd": {"none", REAL_FIT, REAL_REPORT, "batik kawung", "surgical pink"}}


def real_sources() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    return cached("reals|v1", _real_sources)  # type: ignore[return-value]


def _real_sources() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {REAL_FIT: [], REAL_REPORT: []}
    clf = default_classifier()
    for p in sorted((DATA / "masks/real/with_mask").iterdir()):
        if sum(map(len, out.values())) >= N_REAL:
            break
        src = S.real_source(p)
        if src is None:
            continue
        rgb, pts = src
        x, y, w, h = cv2.boundingRect(pts.astype(np.int32))
        box = (x, y, w, h)
        chip = face_chip(rgb, landmarks5(rgb, box))
        if float(clf.predict_proba([chip])[0]) < 0.9:
            continue
        out[REAL_FIT if zlib.crc32(p.name.encode()) % 2 == 0 else REAL_REPORT].append(src)
    return out


@dataclass
class Face:
    """A photo's face, ready for painting: the image padded as enrolment pads it, its box there,
    and the unmasked face's 68 landmarks."""
    work: np.ndarray
    box: tuple[int, int, int, int]
    pts68: np.ndarray


def face_of(path: Path) -> Face | None:
    img = read_image_rgb(path)
    found = detect_enrolment_faces(img)
    if not found:
        return None
    box = found[0][0]
    pad = max(0, -box[0], -box[1], box[0] + box[2] - img.shape[1], box[1] + box[3] - img.shape[0])
    work = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else img
    wbox = (box[0] + pad, box[1] + pad, box[2], box[3])
    return Face(work, wbox, landmarks68(work, wbox))


@dataclass
class Probe:
    """A masked (or unmasked) probe photo as the pipeline sees it: the embedding of its chip
    aligned from its own 5 landmarks, and the mask classifier's P(mask)."""
    emb: np.ndarray
    mask_p: float
    extra: dict[str, np.ndarray] = field(default_factory=dict)


_FACES: dict[Path, Face | None] = {}


def cached_face(path: Path) -> Face | None:
    if path not in _FACES:
        _FACES[path] = face_of(path)
    return _FACES[path]


def probe_of(image: np.ndarray, box: tuple[int, int, int, int], cover_from: float = 0.5) -> Probe:
    """What the pipeline computes for a face: chip from its own 5 landmarks, the fused embedding,
    the mask classifier reading FaceRes's half of it (pipeline._observe); and, for a face the
    classifier calls masked (P(mask) >= `cover_from`, PipelineConfig.mask_threshold), the
    embedding of the face covered by enrolment's cover (occluded.covered_chips) as extra["cover"]."""
    rec = make_recogniser(BACKEND)
    shape = landmarks5(image, box)
    chip = face_chip(image, shape)   # dlib's: the mask classifier's
    emb = rec.embed([recogniser_chip(image, shape, rec.chip, chip)])
    p = float(default_classifier().predict_proba([chip], faceres=FusedRecogniser.faceres_of(emb))[0])
    out = Probe(emb[0], p)
    if p >= cover_from:
        out.extra["cover"] = rec.embed(covered_chips(image, box, shape, rec.chip))[0]
    return out


def enrol_of(path: Path) -> dict[str, np.ndarray] | None:
    """Enrolment-side embedding of a photo covered by occluded.cover_mask ("cover"): the variant
    tried in place of enrolment's three."""
    face = cached_face(path)
    if face is None:
        return None
    rec = make_recogniser(BACKEND)
    shape = landmarks5(face.work, face.box)
    return {"cover": rec.embed([face_chip(cover_mask(face.work, face.pts68, COVER_COLOUR), shape, *rec.chip)])[0]}


def old_variants_of(path: Path) -> list[np.ndarray] | None:
    """Enrolment's masked variants (enrol.enrol_face): faces.paint_mask in the three
    MASK_COLOURS_RGB over faces.mask_polygon, embedded here from the bench's own face."""
    face = cached_face(path)
    if face is None:
        return None
    rec = make_recogniser(BACKEND)
    shape = landmarks5(face.work, face.box)
    return list(rec.embed([face_chip(paint_mask(face.work, face.pts68, c), shape, *rec.chip)
                           for c in MASK_COLOURS_RGB]))


def cached(key: str, make: Callable[[], object]) -> object:
    CACHE.mkdir(exist_ok=True)
    f = CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pkl"
    if f.exists():
        return pickle.loads(f.read_bytes())
    val = make()
    f.write_bytes(pickle.dumps(val))
    return val


def file_key(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def probes_for(paths: list[Path], style: str, painter: S.Painter | None, version: str = "v3",
               sources: list | None = None) -> dict[Path, Probe | None]:
    """Each photo painted in `style` (a real mask per photo from `sources`) and seen as the
    pipeline sees it (probe_of), cached by file content, style and `version`."""
    def make(p: Path) -> Probe | None:
        face = cached_face(p)
        if face is None:
            return None
        paint = painter
        if sources is not None:   # a real mask, chosen per photo
            paint = S.transplant(sources[zlib.crc32(p.name.encode()) % len(sources)])
        img = face.work if paint is None else paint(face.work, face.pts68)
        return probe_of(img, face.box)
    return {p: cached(f"probe|{file_key(p)}|{style}|{version}{backend_tag()}", lambda p=p: make(p)) for p in paths}  # type: ignore[misc]


@dataclass
class Tally:
    probes: int = 0
    identified: int = 0
    wrong: int = 0
    strangers: int = 0
    strangers_named: int = 0
    masked_called: int = 0

    def row(self) -> str:
        n, s = max(1, self.probes), max(1, self.strangers)
        return (f"identified {self.identified / n:6.1%}  wrong {self.wrong / n:5.2%}  "
                f"absentee-style named {self.strangers_named / s:5.2%}  (probes {self.probes}, "
                f"not enrolled {self.strangers}; "
                f"called masked {self.masked_called / max(1, self.probes + self.strangers):.0%})")


def load_set(ids: dict[str, list[Path]]):
    """Enrolment templates per usable photo (embed_paths: the photo's own template; the masked
    variants come from enrol_of and old_variants_of), kept aligned with the photo list."""
    emb = embed_paths([p for ps in ids.values() for p in ps], masked=False, recogniser=BACKEND)
    keep = {pid: [p for p in ps if emb[p] is not None] for pid, ps in ids.items()}
    keep = {k: v for k, v in keep.items() if v}
    return keep, {pid: [emb[p] for p in ps] for pid, ps in keep.items()}


# -- judging: each probe photo alone, against centroids as recognisers.Gallery builds them -------


@dataclass
class Judged:
    """One row per probe photo judged in one trial: the nearest person's distance, the
    runner-up's, whether the nearest is the probe's own person, whether the probe's person is not
    enrolled (absentee-style), whether it went the covered way, and whether the mask classifier
    called it masked."""
    best: list[float] = field(default_factory=list)
    runner: list[float] = field(default_factory=list)
    right: list[bool] = field(default_factory=list)
    stranger: list[bool] = field(default_factory=list)
    covered: list[bool] = field(default_factory=list)
    masked: list[bool] = field(default_factory=list)

    def add(self, d: np.ndarray, truth: int | None, covered: bool, masked: bool = False) -> None:
        order = np.argsort(d)
        self.best.append(float(d[order[0]]))
        self.runner.append(float(d[order[1]]) if len(d) > 1 else float("inf"))
        self.right.append(truth is not None and int(order[0]) == truth)
        self.stranger.append(truth is None)
        self.covered.append(covered)
        self.masked.append(masked)

    def tally(self, th: MatchThresholds, th_cov: MatchThresholds | None = None,
              th_masked: MatchThresholds | None = None) -> Tally:
        """Names given with `th`; a covered probe's with `th_cov` (None: `th`), a probe called
        masked but not covered with `th_masked` (None: `th`), as pipeline._decide chooses."""
        b, r = np.array(self.best), np.array(self.runner)
        cov = np.array(self.covered, bool)
        plain_masked = np.array(self.masked, bool) & ~cov
        acc = np.where(cov, th_cov.accept if th_cov else th.accept, th.accept)
        mar = np.where(cov, th_cov.margin if th_cov else th.margin, th.margin)
        if th_masked is not None:
            acc = np.where(plain_masked, th_masked.accept, acc)
            mar = np.where(plain_masked, th_masked.margin, mar)
        named = (b < acc) & (r - b >= mar)
        right, stranger = np.array(self.right, bool), np.array(self.stranger, bool)
        t = Tally(probes=int((~stranger).sum()), strangers=int(stranger.sum()), masked_called=int(cov.sum()))
        t.identified = int((named & right & ~stranger).sum())
        t.wrong = int((named & ~right & ~stranger).sum())
        t.strangers_named = int((named & stranger).sum())
        return t


Method = Callable[[dict, list[str], dict[str, set[int]], dict[str, Probe | None]], None]


def judge(data: dict, style: str, how: str, n_enrol: int, roster_n: int, n_str: int, trials: int,
          people: list[str] | None = None, mask_threshold: float = PipelineConfig().mask_threshold,
          seed: int = 0) -> Judged:
    """Offices of `roster_n` people (from `people`, default all) enrolled from `n_enrol` photos,
    `n_str` more not enrolled; every probe photo of `style` not used to enrol judged alone.
    `how`: "current" (templates and enrolment's masked variants: three colours painted on
    faces.mask_polygon; nearest of a person's centroids, the recogniser's limits), "covered" (the
    same templates; a probe the classifier calls masked is covered (occluded.cover_mask) and its
    distance is the mean of (probe to photo centroid) and (covered probe to masked centroid),
    judged with `th_cov`: occluded.covered_distances), "covered, cover as the variant" (the same,
    with enrolment's variants replaced by the cover itself: tried, not kept)."""
    enrol, extra, probes = data["enrol"], data["extra"], data["probes"][style]
    pool = sorted(people if people is not None else enrol)
    rng = np.random.default_rng(seed)
    out = Judged()
    for _ in range(trials):
        pick = list(rng.permutation(pool))
        roster = [p for p in pick if len(enrol[p]) >= n_enrol + 1][:roster_n]
        strangers = [p for p in pick if p not in roster][:n_str]
        photo_c, masked_c, used = [], [], {}
        for pid in roster:
            order = [int(i) for i in rng.permutation(len(enrol[pid]))[:n_enrol]]
            used[pid] = set(order)
            photo_c.append(np.mean([enrol[pid][i][0] for i in order], axis=0))
            if how == "covered, cover as the variant":
                var = [extra[pid][i]["cover"] for i in order]
            else:
                var = [m for i in order for m in extra[pid][i]["old"]]
            masked_c.append(np.mean(var, axis=0))
        pc, mc = np.stack(photo_c), np.stack(masked_c)
        for pid in roster + strangers:
            truth = roster.index(pid) if pid in used else None
            for i, pr in enumerate(probes.get(pid, [])):
                if pr is None or i in used.get(pid, ()):
                    continue
                covered = how.startswith("covered") and pr.mask_p >= mask_threshold and "cover" in pr.extra
                if covered:   # occluded.covered_distances
                    d = (np.linalg.norm(pc - pr.emb, axis=1) + np.linalg.norm(mc - pr.extra["cover"], axis=1)) / 2
                else:
                    d = np.minimum(np.linalg.norm(pc - pr.emb, axis=1), np.linalg.norm(mc - pr.emb, axis=1))
                out.add(d, truth, covered, pr.mask_p >= mask_threshold)
    return out


def fit_judged(datasets: dict[str, dict], reals: dict, how: str) -> dict[str, Judged]:
    """Per set, its FIT styles judged `how` on the people of FIT_HALF only (a third as many not
    enrolled, the rest on the roster): what the fits search on."""
    judged = {}
    for name, data in datasets.items():
        n_enrol, roster_n, n_str = SETS[name]
        people = [p for p in data["enrol"] if half(p) == FIT_HALF]
        n_str_a = max(2, n_str // 3)
        roster_a = min(roster_n, len(people) - n_str_a)
        judged[name] = _pool([judge(data, st, how, n_enrol, roster_a, n_str_a, 20, people=people)
                              for g, st, _, _ in style_list(reals, name) if g == "fit"])
    return judged


def best_limits(judged: dict[str, Judged], grid: list[MatchThresholds],
                tally: Callable[[Judged, MatchThresholds], Tally], limit: float, stranger_limit: float
                ) -> tuple[MatchThresholds, dict[str, Tally]] | None:
    """Of `grid`, the limits with the largest mean identified rate whose wrong rate stays within
    `limit` and whose absentee-style names stay within `stranger_limit`, on every set (ties: the
    first in `grid`)."""
    best = None
    for th in grid:
        res = {n: tally(j, th) for n, j in judged.items()}
        ok = all(r.wrong / max(1, r.probes) <= limit and r.strangers_named / max(1, r.strangers) <= stranger_limit
                 for r in res.values())
        ident = float(np.mean([r.identified / max(1, r.probes) for r in res.values()]))
        if ok and (best is None or ident > best[0]):
            best = (ident, th, res)
    return None if best is None else (best[1], best[2])


def fit_covered(datasets: dict[str, dict], reals: dict, limit: float = 0.005 * 0.75, stranger_limit: float = 0.02
                ) -> tuple[MatchThresholds, dict[str, Tally]]:
    """The covered way's accept and margin: on FIT styles and people of FIT_HALF only, the largest
    mean identified rate whose wrong rate stays within `limit` (three quarters of the 0.5%
    target, as fit_thresholds' HEADROOM) and whose absentee-style names stay within
    `stranger_limit`, on every set."""
    judged = fit_judged(datasets, reals, "covered")
    # The default's grid as it was fitted; another recogniser's distances lie on a scale of their
    # own (ArcFace's half, weight 2.0, takes them further), so its grid follows its own limits.
    own = MatchThresholds.load(BACKEND)
    top, m_top = (1.30, 0.20) if BACKEND == FusedRecogniser.name else (1.5 * own.accept, max(0.20, 2 * own.margin))
    grid = [MatchThresholds(accept=round(float(a), 3), margin=round(float(m), 3))
            for a in np.arange(0.50, top, 0.01) for m in np.arange(0.0, m_top, 0.005)]
    found = best_limits(judged, grid, lambda j, th: j.tally(th, th), limit, stranger_limit)
    if found is None:
        raise SystemExit("no covered threshold meets the limits")
    return found


def fit_masked(datasets: dict[str, dict], reals: dict, limit: float = 0.005 * 0.75, stranger_limit: float = 0.02
               ) -> tuple[MatchThresholds, dict[str, Tally]]:
    """The accept and margin of a masked face compared as it is ("current": the way of a
    recogniser without covered limits), with the covered fit's data and criteria: FIT styles and
    people of FIT_HALF only; a probe the classifier calls masked is judged with the candidate, the
    others with the recogniser's own limits (pipeline._decide). Only stricter than its own: accept
    from half its own up to its own, margin from its own up to three times it."""
    judged = fit_judged(datasets, reals, "current")
    own = MatchThresholds.load(BACKEND)
    accepts = own.accept - 0.01 * np.arange(int(own.accept / 2 / 0.01), -1, -1)
    margins = own.margin + 0.005 * np.arange(int(2 * own.margin / 0.005) + 1)
    grid = [MatchThresholds(accept=round(float(a), 3), margin=round(float(m), 3)) for a in accepts for m in margins]
    found = best_limits(judged, grid, lambda j, th: j.tally(own, None, th), limit, stranger_limit)
    if found is None:
        raise SystemExit("no masked threshold meets the limits")
    return found


def style_list(reals, set_name: str) -> list[tuple[str, str, S.Painter | None, list | None]]:
    styles: list[tuple[str, str, S.Painter | None, list | None]] = [("unmasked", "none", None, None)]
    styles += [("fit", n, f, None) for n, f in FIT_STYLES.items()] + [("fit", REAL_FIT, None, reals[REAL_FIT])]
    styles += [("report", n, f, None) for n, f in REPORT_STYLES.items()]
    styles += [("report", REAL_REPORT, None, reals[REAL_REPORT])]
    styles += [("held-back look", n, f, None) for n, f in HELD_BACK_LOOK.items()]
    only = SET_STYLES[set_name]
    return [s for s in styles if only is None or s[1] in only]


SETS = {"western": (1, 13, 4), "rmfd": (3, 20, 10)}


def set_ids(name: str) -> dict[str, list[Path]]:
    return western() if name == "western" else identities(DATA / "faces/rmfd", 4)


def compute(set_name: str, reals) -> dict:
    """Everything the methods compare, for one set: enrolment (the product's templates and
    masked variants, and the cover variants) and every style's probes."""
    paths, enrol = load_set(set_ids(set_name))
    flat = [p for ps in paths.values() for p in ps]
    who = {p: pid for pid, ps in paths.items() for p in ps}
    extra: dict[Path, dict | None] = {
        p: cached(f"enrol|{file_key(p)}|v3{backend_tag()}", lambda p=p: enrol_of(p))  # type: ignore[misc]
        for p in flat}
    for p in flat:   # enrolment's masked variants
        old = cached(f"old|{file_key(p)}|v1{backend_tag()}", lambda p=p: old_variants_of(p))  # type: ignore[misc]
        e = extra[p]
        if e is not None:
            extra[p] = {**e, "old": old}
    probes = {}
    for group, style, painter, sources in style_list(reals, set_name):
        t = time.time()
        # FIT styles are only ever judged on the fitting half's people, the others (in sets reported
        # on the other half) only on the other half's.
        keep = [p for p in flat if (half(who[p]) == FIT_HALF) == (group == "fit") or
                (group != "fit" and set_name not in REPORT_HALF_ONLY)]
        got = probes_for(keep, style, painter, sources=sources)
        probes[style] = {pid: [got.get(p) for p in ps] for pid, ps in paths.items()}
        print(f"    {set_name} {style}: {time.time() - t:.0f} s", flush=True)
    return {"paths": paths, "enrol": enrol, "extra": {pid: [extra[p] for p in ps] for pid, ps in paths.items()},
            "probes": probes}


METHODS = ("current", "covered", "covered, cover as the variant")


def _pool(parts: list[Judged]) -> Judged:
    j = Judged()
    for part in parts:
        for f in ("best", "runner", "right", "stranger", "covered", "masked"):
            getattr(j, f).extend(getattr(part, f))
    return j


def report(set_name: str, data: dict, reals, trials: int, th_cov: MatchThresholds | None,
           th_masked: MatchThresholds | None = None) -> None:
    """Per style and method: identified, wrong, absentee-style named; every report style pooled;
    in sets reported on all people, the same on the other half's people alone. A probe called
    masked and not covered is judged with `th_masked` where given (pipeline._decide)."""
    n_enrol, roster_n, n_str = SETS[set_name]
    th = MatchThresholds.load(BACKEND)

    def tally(j: Judged, how: str) -> Tally:
        return j.tally(th, th_cov if how.startswith("covered") else None, th_masked)
    other = sorted(p for p in data["enrol"] if half(p) != FIT_HALF)
    people = other if set_name in REPORT_HALF_ONLY else sorted(data["enrol"])
    print(f"\n{set_name}: {len(people)} people{' (not the fitting half)' if set_name in REPORT_HALF_ONLY else ''}; "
          f"{roster_n}-person roster + {n_str} not enrolled, {n_enrol} enrolment photo(s), each probe photo alone, "
          f"{trials} trials")
    pooled: dict[str, list[Judged]] = {m: [] for m in METHODS}
    for group, style, _, _ in style_list(reals, set_name):
        if group == "fit":
            continue
        for how in METHODS:
            j = judge(data, style, how, n_enrol, roster_n, n_str, trials, people=people)
            t = tally(j, how)
            print(f"  [{group:>14}] {style:<28} {how:<22} {t.row()}", flush=True)
            if group == "report":
                pooled[how].append(j)
    for how in METHODS:
        t = tally(_pool(pooled[how]), how)
        print(f"  [{'report':>14}] {'ALL REPORT STYLES':<28} {how:<22} {t.row()}")
    if set_name in REPORT_HALF_ONLY:
        return
    n_o = max(2, n_str // 2)
    r_o = min(roster_n, len(other) - n_o)
    for how in METHODS:
        parts = [judge(data, style, how, n_enrol, r_o, n_o, trials, people=other)
                 for group, style, _, _ in style_list(reals, set_name) if group == "report"]
        t = tally(_pool(parts), how)
        print(f"  [{'other half':>14}] {f'report styles, {r_o}+{n_o} people':<28} {how:<22} {t.row()}")


def fitted_limits(fitted: tuple[MatchThresholds, dict[str, Tally]], key: str, what: str, flag: str,
                  no_write: bool) -> MatchThresholds:
    """Print a fit's limits and results and, unless `no_write`, keep them in thresholds.json under `key`."""
    th, res = fitted
    print(f"\nfitted {what} (FIT styles, people of half {FIT_HALF}): accept {th.accept} margin {th.margin}")
    for n, r in res.items():
        print(f"  {n}: {r.row()}")
    if not no_write:
        how = " compared as they are," if flag == "--fit-masked" else ""
        d = thresholds_file()
        d[key] = {"accept": th.accept, "margin": th.margin, "min_views": 1,
                  "fitted_on": f"shared/data faces/lfw10, fr_examples, openface, rmfd (people of half {FIT_HALF} "
                               f"by name hash) in FIT styles and masks/real (fit half),{how} by "
                               f"bench/bench_masked_styles.py {flag}"}
        (MODELS_DIR / "thresholds.json").write_text(json.dumps(d, indent=1) + "\n")
    return th


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recogniser", default=FusedRecogniser.name,
                    help='"dlib+faceres" (default) or "arcface" / "dlib+faceres+arcface"')
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--only", choices=("western", "rmfd"), action="append")
    ap.add_argument("--compute-only", action="store_true")
    ap.add_argument("--fit", action="store_true",
                    help="fit the covered way's thresholds (writes models/thresholds.json)")
    ap.add_argument("--fit-masked", action="store_true",
                    help='fit the limits of a masked face compared as it is ("<backend> masked", for a '
                         "recogniser without covered limits; writes models/thresholds.json)")
    ap.add_argument("--no-write", action="store_true",
                    help="with --fit or --fit-masked: report with the fitted limits without writing them (to "
                         "see first whether they help this recogniser)")
    a = ap.parse_args()
    use_recogniser(a.recogniser)
    if BACKEND not in thresholds_file():
        print(f"note: models/thresholds.json has no {BACKEND!r}: judged by MatchThresholds' defaults", flush=True)
    t0 = time.time()
    print(f"recogniser {BACKEND}", flush=True)
    reals = real_sources()
    print(f"real mask sources: fit {len(reals[REAL_FIT])}, report {len(reals[REAL_REPORT])}", flush=True)
    datasets = {n: compute(n, reals) for n in a.only or ("western", "rmfd")}
    if a.compute_only:
        return
    th_cov = MatchThresholds.load(covered_key()) if covered_key() in thresholds_file() else None
    if a.fit:
        th_cov = fitted_limits(fit_covered(datasets, reals), covered_key(), "covered", "--fit", a.no_write)
    th_masked = masked_thresholds(BACKEND)
    if a.fit_masked:
        th_masked = fitted_limits(fit_masked(datasets, reals), masked_key(), "masked, as it is", "--fit-masked",
                                  a.no_write)
    if th_masked is not None:
        print(f"\nmasked faces compared as they are: accept {th_masked.accept} margin {th_masked.margin}")
    for n, data in datasets.items():
        report(n, data, reals, a.trials, th_cov, th_masked)
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
