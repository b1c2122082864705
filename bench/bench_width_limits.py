"""Limits of names by elimination that would depend on the face's width in pixels: measured, not adopted
(BENCHMARKS.md "Limits by face width"; docs/vision.md). Real photos degraded to small faces, distances of one
person's and of different people's one-moment tracks to the roster's templates, and the limits a per-width fit
would give, on the people it was not fitted on.

Why: `elimination_accept` (fit_thresholds.py) is the distance that 2% of different people's pairs
reach. A small face on camera is scaled down, noisy and compressed, and its embedding lies further from
everybody's templates, its own person's included: the question was whether a limit per width that holds
the false-accept rate would name more small faces. It names few more (different people's distances
move far less than one person's as the face shrinks), and through the whole pipeline it changed no name
on the benches tried; the figures are in BENCHMARKS.md and bench/HISTORY.md.

Data (read in place): ../shared/data faces/rmfd (East-Asian; the hard case, the one
`elimination_accept` is fitted on) and the Western sets (faces/lfw10, fr_examples knn, openface
clapton and lennon), each split in two by a hash of the person's name (`half`): the limits are
fitted on the FIT half of rmfd only; the REPORT half (and the Western sets) only measure them.

Probes: each photo scaled so the detector's box around its face is W px wide (or as it is, up to
FULL_CAP_PX: "full"), padded with grey, sensor noise and a JPEG round trip (as
bench/bench_face_width.py's frames), then the pipeline's own 5 landmarks on the scaled box, chip
and recogniser; a probe is the mean of VIEWS such views (fresh noise each), as a live track's mean
of views of one face. Templates: the person's other photos enrolled as the roster enrols them
(full size, with the masked variants), the gallery and its distances as the pipeline has them
(recognisers.Gallery, aggregate).

The fit, per number of photos n (1, 2, 3+) and width W: the stored elimination_accept[n] moved by
as much as different people's distances moved from full size to W at their REFERENCE_RATE
quantile (rounded down to 0.005), never below the stored limit and never tighter for a smaller
face; faces of ANCHOR_PX and more keep the stored limits. The stored limits' own false-accept rate
on these probes is a few in ten thousand pairs,
too few to read a quantile at: the 2% quantile's move stands for the tail's.
Different people's distances move far less than one person's as the face shrinks, so these limits
give back only part of what small faces lose.

Run: .venv/bin/python bench/bench_width_limits.py [--trials 40]"""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_face_width as face_width
import cv2
import numpy as np
from bench_face_width import FULL, FULL_CAP_PX, NOISE_SD, face_box
from numpy.typing import NDArray

from attendance.vision.config import FUSED_BACKEND, backend_name
from attendance.vision.faces import face_chip, landmarks5, recogniser_chip
from attendance.vision.recognise.recognisers import (
    MODELS_DIR,
    Gallery,
    MatchThresholds,
    Recogniser,
    aggregate,
    make_recogniser,
)
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.training.protocol import CACHE, DATA, embed_paths, identities
from attendance.vision.types import RosterPerson

WIDTHS = (32, 40, 48, 56, 64, 80)
VIEWS = 2                 # views averaged into a probe, as a track's first views of one face
JPEG_QUALITY = 80         # bench_face_width's default
GREY = 120
FIT_HALF = "fit"
# The quantile of different people's distances whose move with the face's width moves the limits
# (fit_thresholds.ELIMINATION_IMPOSTOR_RATE: the rate the stored limits were fitted at).
REFERENCE_RATE = 0.02
# Faces this wide or wider keep the stored limits (twice the widest fitted width; at the widest
# the limits have already come back to within a step of the stored ones).
ANCHOR_PX = 2 * WIDTHS[-1]
CACHE_VERSION = b"width-v1"

Views = dict[int, NDArray[np.float32]]      # width -> (VIEWS, dim)


def half(name: str) -> str:
    """People split in two by a hash of their name: "fit" (the limits are fitted on them) or
    "report" (only measured)."""
    return "fit" if zlib.crc32(name.encode()) % 2 == 1 else "report"


def western_people() -> dict[str, list[Path]]:
    """The Western sets as bench_face_width takes them, people with at least two photos."""
    return {k: v for k, v in face_width.western_people().items() if len(v) >= 2}


def degrade(rgb: np.ndarray, box: tuple[int, int, int, int], width: int,
            rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The photo as a camera frame shows a face `width` px wide (FULL: as it is, up to
    FULL_CAP_PX): scaled, on grey, noisy, through JPEG; the frame (RGB) and the face's box in it."""
    x, y, w, h = box
    s = min(1.0, FULL_CAP_PX / w) if width == FULL else width / w
    img = rgb if s == 1.0 else cv2.resize(rgb, None, fx=s, fy=s,
                                          interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    pad = max(16, int(round(w * s)))
    frame = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(GREY, GREY, GREY))
    noisy = np.clip(frame.astype(np.float32) + rng.normal(0, NOISE_SD, frame.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(noisy[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError("JPEG decoding failed")
    out = np.ascontiguousarray(bgr[:, :, ::-1])
    return out, (int(round(x * s)) + pad, int(round(y * s)) + pad, int(round(w * s)), int(round(h * s)))


def probe_views(path: Path, rec: Recogniser, widths: tuple[int, ...] = (FULL, *WIDTHS)) -> Views | None:
    """Embeddings of the photo's face degraded to each width (VIEWS each), cached on disk by the
    photo's content; None when the detector finds no face in the photo."""
    data = path.read_bytes()
    key = hashlib.sha256(data + CACHE_VERSION + rec.name.encode() + repr(widths).encode()).hexdigest()[:24]
    CACHE.mkdir(exist_ok=True)
    f = CACHE / f"w{key}.pkl"
    if f.exists():
        cached: Views | None = pickle.loads(f.read_bytes())
        return cached
    rgb = read_image_rgb(path)
    box = face_box(rgb)
    out: Views | None = None
    if box is not None:
        rng = np.random.default_rng(zlib.crc32(path.name.encode()))
        chips, order = [], []
        for w in widths:
            for _ in range(VIEWS):
                frame, b = degrade(rgb, box, w, rng)
                shape = landmarks5(frame, b)
                chip = face_chip(frame, shape)
                chips.append(recogniser_chip(frame, shape, rec.chip, chip))
                order.append(w)
        embs = rec.embed(chips)
        out = {w: np.stack([e for e, o in zip(embs, order, strict=True) if o == w]).astype(np.float32)
               for w in widths}
    f.write_bytes(pickle.dumps(out))
    return out


Person = list[tuple[np.ndarray, list[np.ndarray], Views | None]]   # per photo: template, masked variants, probe views


def load_people(people: dict[str, list[Path]], rec: Recogniser, spec: str) -> dict[str, Person]:
    """Per person, per usable photo: its enrolment embedding, its masked variants and its probes."""
    emb = embed_paths([p for ps in people.values() for p in ps], masked=True, recogniser=spec)
    out: dict[str, Person] = {}
    for i, (pid, ps) in enumerate(sorted(people.items())):
        rows = [(e[0], e[1], probe_views(p, rec)) for p in ps if (e := emb[p]) is not None]
        if len(rows) >= 2:
            out[pid] = rows
        if (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(people)} people embedded", file=sys.stderr, flush=True)
    return out


def distances(data: dict[str, Person], n_enrol: int, trials: int, seed: int = 0,
              widths: tuple[int, ...] = (FULL, *WIDTHS)) -> dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Per width: (genuine, impostor) distances of probes to centroids of `n_enrol` photos (with
    their masked variants, as the roster has them). Each trial enrols a random n_enrol photos
    of every person with more, and probes with one of their other photos."""
    rng = np.random.default_rng(seed)
    gen: dict[int, list[float]] = {w: [] for w in widths}
    imp: dict[int, list[float]] = {w: [] for w in widths}
    people = [p for p in sorted(data) if len(data[p]) > n_enrol]
    for _ in range(trials):
        roster, probes = [], []
        for pid in people:
            rows = data[pid]
            order = rng.permutation(len(rows))
            enrol = [rows[i] for i in order[:n_enrol]]
            templates = [e for e, _, _ in enrol] + [m for _, ms, _ in enrol for m in ms]
            roster.append(RosterPerson(pid, np.stack(templates).astype(np.float32),
                                       ("photo",) * n_enrol + ("masked",) * (len(templates) - n_enrol)))
            probes.append(next((rows[i][2] for i in order[n_enrol:] if rows[i][2] is not None), None))
        g = Gallery.build(roster)
        for k, views in enumerate(probes):
            if views is None:
                continue
            for w in widths:
                d = aggregate(g, views[w])
                gen[w].append(float(d[k]))
                imp[w] += [float(x) for x in np.delete(d, k)]
    return {w: (np.asarray(gen[w]), np.asarray(imp[w])) for w in widths}


def fit_limits(dist_by_n: dict[int, dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]]],
               stored: tuple[float, ...]) -> dict[int, list[float]]:
    """Per width: the limits for 1, 2, 3+ photos, the stored ones moved by as much as different
    people's distances moved from full size to that width, measured at their REFERENCE_RATE
    quantile (rounded down to 0.005; never below the stored limit, nor tighter for a smaller face
    than for a wider one). The stored limits' own false-accept rate on these probes is a few in
    ten thousand: too few pairs to read a quantile there, so the tail is assumed to move as its
    2% quantile does."""
    out: dict[int, list[float]] = {}
    for w in WIDTHS:
        row = []
        for n in (1, 2, 3):
            lim = stored[min(n, len(stored)) - 1]
            shift = float(np.quantile(dist_by_n[n][w][1], REFERENCE_RATE)
                          - np.quantile(dist_by_n[n][FULL][1], REFERENCE_RATE))
            row.append(round(max(lim, float(np.floor((lim + shift) / 0.005) * 0.005)), 3))
        out[w] = row
    for small, wide in reversed(list(zip(WIDTHS, WIDTHS[1:], strict=False))):   # not tighter for a smaller face
        out[small] = [max(a, b) for a, b in zip(out[small], out[wide], strict=True)]
    return out


def table(name: str, dist: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]], limit: float,
          per_width: dict[int, float] | None, accept: float) -> None:
    """Genuine and impostor distances by width; true and false accepts at the stored limit and at
    the per-width one."""
    print(f"\n{name}: stored elimination limit {limit}, accept {accept}")
    print("  width  gen med  imp med  imp 2%q  imp-gen   TAR@lim  FAR@lim  | lim(w)  TAR@lim(w) FAR@lim(w) "
          "| TAR@acc  FAR@acc")
    for w, (g, i) in dist.items():
        lw = per_width.get(w, limit) if per_width else limit
        print(f"  {'full' if w == FULL else w:>5}  {np.median(g):7.3f}  {np.median(i):7.3f}  "
              f"{np.quantile(i, 0.02):7.3f}  {np.median(i) - np.median(g):7.3f}  {np.mean(g < limit):7.1%}  "
              f"{np.mean(i < limit):7.2%}  | {lw:6.3f}  {np.mean(g < lw):9.1%}  {np.mean(i < lw):9.2%}  | "
              f"{np.mean(g < accept):7.1%}  {np.mean(i < accept):7.2%}   (n gen {len(g)}, imp {len(i)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default=FUSED_BACKEND)
    ap.add_argument("--trials", type=int, default=40)
    a = ap.parse_args()
    name = backend_name(a.backend)
    path = MODELS_DIR / "thresholds.json"
    stored_all = json.loads(path.read_text())
    if name not in stored_all or not stored_all[name].get("elimination_accept"):
        sys.exit(f"{path} has no elimination_accept for {name}: run fit_thresholds first")
    th = MatchThresholds.load(name)
    assert th.elimination_accept is not None
    rec = make_recogniser(a.backend)
    rmfd_all = identities(DATA / "faces/rmfd", min_photos=2)
    west_all = western_people()
    sets = {
        "rmfd fit": {k: v for k, v in rmfd_all.items() if half(k) == FIT_HALF},
        "rmfd report": {k: v for k, v in rmfd_all.items() if half(k) != FIT_HALF},
        "western fit": {k: v for k, v in west_all.items() if half(k) == FIT_HALF},
        "western report": {k: v for k, v in west_all.items() if half(k) != FIT_HALF},
    }
    loaded = {}
    for s, people in sets.items():
        print(f"{s}: {len(people)} people, {sum(map(len, people.values()))} photos", file=sys.stderr, flush=True)
        loaded[s] = load_people(people, rec, a.backend)
    dists = {s: {n: distances(d, n, a.trials) for n in ((1, 2, 3) if s.startswith("rmfd") else (1,))}
             for s, d in loaded.items()}
    limits = fit_limits(dists["rmfd fit"], th.elimination_accept)
    print("fitted on rmfd fit half: width -> elimination_accept for 1/2/3+ photos")
    for w, row in limits.items():
        print(f"  {w:>3} px: {row}")
    for s, by_n in dists.items():
        for n, dist in by_n.items():
            lim = th.elimination_accept[min(n, len(th.elimination_accept)) - 1]
            table(f"{s}, {n} photo(s)", dist, lim, {w: limits[w][n - 1] for w in WIDTHS}, th.accept)


if __name__ == "__main__":
    main()
