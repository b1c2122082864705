"""Ideas for naming more masked faces in unseen mask styles, measured on bench_masked_styles.py's
probes and splits (tried 2026-12-06; none kept, see bench/HISTORY.md).

Why: the covered way (recognise/occluded.py) gives few wrong names on mask styles enrolment never
paints but names few masked faces. Before adding a comparison to the product, this measures
whether any of these names more at the same wrong-name limit, and what bounds them all:
- "rank-1" (the nearest person is the right one) and "oracle": the largest identified share at
  <= 0.5% wrong with accept and margin chosen on the REPORT probes themselves (cheating on
  purpose: no fit on the fitting split can do better with that distance);
- each distance's accept and margin fitted on the fitting split only (FIT styles, FIT_HALF's
  people; <= 0.375% wrong and <= 2% absentee-style on every set, as bench_masked_styles --fit),
  then read on the REPORT styles and people exactly as bench_masked_styles reports them;
- distances: the committed covered one; the periocular chip (eyes and brows aligned by the eyes
  alone, the rows below the lower lids grey, on enrolment photos and probes alike) embedded by the
  fused recogniser, alone and mixed in; the probe covered in enrolment's three colours and
  averaged; the dlib/FaceRes halves weighted; per-person and per-probe score normalisation;
  within-class whitening fitted on the fitting split;
- pseudo-tracks: k photos of one person in one style as one track, by the pipeline's
  mean of views and by per-photo votes. Different photos vary more than a live track's frames,
  so this is an upper bound on what a track adds.

Run: .venv/bin/python bench/bench_masked_ideas.py (about 20 minutes the first time for the
periocular and colour embeddings on a machine shared with a CI run, cached in
bench_masked_styles.CACHE; under 2 minutes after). Run bench_masked_styles.py first: it makes the
probes this reads."""
from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

import __main__

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_masked_styles as B
import mask_styles as S

from attendance.vision.faces import MASK_COLOURS_RGB, landmarks5
from attendance.vision.recognise.occluded import covered_chips
from attendance.vision.recognise.recognisers import make_recogniser

# bench_masked_styles run as a script pickled its Probe and Face as __main__'s.
__main__.Probe, __main__.Face = B.Probe, B.Face  # type: ignore[attr-defined]

D = 128   # dlib's half of a fused embedding; FaceRes's follows
# Where dlib's chip (150, padding 0.25) puts the eye centres; the periocular chip keeps the
# rows above CUT (about 8 px below the eyes: the top of most masks is lower).
EYES = np.array([(47.3, 45.9), (99.7, 45.8)], np.float32)
CUT = 54
LIMIT, STRANGER_LIMIT = 0.005 * 0.75, 0.02


def periocular_chip(img: np.ndarray, shape, size: int = 150, cut: int = CUT) -> np.ndarray:
    """The face aligned by its eye centres alone (5-point landmarks 0-1 and 2-3; the nose point
    lies under a mask), the rows from `cut` down filled grey."""
    p = np.array([(q.x, q.y) for q in shape.parts()], np.float32)
    a, b = p[0:2].mean(0), p[2:4].mean(0)
    src = np.stack([a, b] if a[0] < b[0] else [b, a])
    sv, dv = src[1] - src[0], EYES[1] - EYES[0]
    s = np.linalg.norm(dv) / max(1e-6, float(np.linalg.norm(sv)))
    ang = np.arctan2(dv[1], dv[0]) - np.arctan2(sv[1], sv[0])
    m = np.array([[s * np.cos(ang), -s * np.sin(ang), 0], [s * np.sin(ang), s * np.cos(ang), 0]], np.float32)
    m[:, 2] = EYES[0] - m[:, :2] @ src[0]
    out = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out[cut:] = 128
    return out


def painted(p: Path, painter, sources) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    f = B.cached_face(p)
    assert f is not None
    paint = painter
    if sources is not None:
        paint = S.transplant(sources[zlib.crc32(p.name.encode()) % len(sources)])
    return (f.work if paint is None else paint(f.work, f.pts68)), f.box


def extras(name: str, data: dict, reals) -> dict:
    """Per photo: the periocular embedding of the enrolment photo ("enrol") and of each style's
    probe ("peri"), and each masked probe covered in enrolment's other two colours ("colours")."""
    rec = make_recogniser(B.FUSED)
    paths = data["paths"]
    out: dict = {"enrol": {}, "peri": {}, "colours": {}}

    def peri_of(img, box):
        return rec.embed([periocular_chip(img, landmarks5(img, box))])[0]

    for ps in paths.values():
        for p in ps:
            f = B.cached_face(p)
            out["enrol"][p] = B.cached(f"peri-enrol|{B.file_key(p)}|c{CUT}",
                                       lambda f=f: peri_of(f.work, f.box))
    for _, style, painter, sources in B.style_list(reals, name):
        probes = data["probes"][style]
        out["peri"][style], out["colours"][style] = {}, {}
        for pid, ps in paths.items():
            for p, pr in zip(ps, probes[pid], strict=True):
                if pr is None:
                    continue
                key = f"{B.file_key(p)}|{style}"

                def peri(p=p, painter=painter, sources=sources):
                    return peri_of(*painted(p, painter, sources))

                def colours(p=p, painter=painter, sources=sources):
                    img, box = painted(p, painter, sources)
                    return rec.embed(covered_chips(img, box, landmarks5(img, box), rec.chip, MASK_COLOURS_RGB[1:]))

                out["peri"][style][p] = B.cached(f"peri-probe|{key}|c{CUT}", peri)
                if "cover" in pr.extra:
                    out["colours"][style][p] = B.cached(f"colours-probe|{key}|v1", colours)
        print(f"    {name} {style}: periocular and colours ready", flush=True)
    return out


# -- rows: per probe (or pseudo-track) and roster person, the distances' components --------------

COMPONENTS = ("plain dlib", "plain faceres", "cover dlib", "cover faceres", "plain->masked dlib",
              "plain->masked faceres", "peri dlib", "peri faceres", "3-colour cover dlib",
              "3-colour cover faceres", "roster spread")


def _halves(diff: np.ndarray) -> list[np.ndarray]:
    return [np.linalg.norm(diff[:, :D], axis=1), np.linalg.norm(diff[:, D:], axis=1)]


def _comps(cents, emb, cover, peri, cover3) -> np.ndarray:
    """(K, R): COMPONENTS of one probe (or mean of views) against the roster's centroids."""
    pca, mca, qca, spread = cents
    return np.stack(_halves(pca - emb) + _halves(mca - cover) + _halves(mca - emb) + _halves(qca - peri)
                    + _halves(mca - cover3) + [spread])


def rows(name: str, style: str, people: list[str], roster_n: int, n_str: int, k: int = 1,
         trials: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The offices of bench_masked_styles.judge (same seed, rosters and enrolment photos): per
    group of `k` probe photos of one person (k=1: each photo alone), the components (n, K, R)
    of their mean of views, the same per photo (n, k, K, R) for votes, and the truth (-1: not
    enrolled)."""
    data, ex = DATA[name], EXTRA[name]
    n_enrol = B.SETS[name][0]
    enrol, extra, paths = data["enrol"], data["extra"], data["paths"]
    probes = data["probes"][style]
    rng = np.random.default_rng(seed)
    mean_rows, photo_rows, truths = [], [], []
    for _ in range(trials):
        pick = list(rng.permutation(sorted(people)))
        roster = [p for p in pick if len(enrol[p]) >= n_enrol + 1][:roster_n]
        strangers = [p for p in pick if p not in roster][:n_str]
        pc, mc, qc, used = [], [], [], {}
        for pid in roster:
            order = [int(i) for i in rng.permutation(len(enrol[pid]))[:n_enrol]]
            used[pid] = set(order)
            pc.append(np.mean([enrol[pid][i][0] for i in order], axis=0))
            mc.append(np.mean([m for i in order for m in extra[pid][i]["old"]], axis=0))
            qc.append(np.mean([ex["enrol"][paths[pid][i]] for i in order], axis=0))
        pca, mca, qca = np.stack(pc), np.stack(mc), np.stack(qc)
        spread = np.linalg.norm(pca[:, None] - pca[None], axis=2).sum(1) / max(1, len(pca) - 1)

        cents = (pca, mca, qca, spread)
        for pid in roster + strangers:
            truth = roster.index(pid) if pid in used else -1
            ok = [(pr, paths[pid][i]) for i, pr in enumerate(probes.get(pid, []))
                  if pr is not None and i not in used.get(pid, ()) and "cover" in pr.extra]
            ok = [ok[i] for i in rng.permutation(len(ok))] if k > 1 else ok
            for s in range(0, len(ok) - k + 1, k):
                group = ok[s:s + k]
                per = [(pr.emb, pr.extra["cover"], ex["peri"][style][q],
                        np.mean([pr.extra["cover"], *ex["colours"][style][q]], axis=0)) for pr, q in group]
                mean_rows.append(_comps(cents, *(np.mean(x, axis=0) for x in zip(*per, strict=True))))
                photo_rows.append(np.stack([_comps(cents, *x) for x in per]))
                truths.append(truth)
    return np.stack(mean_rows), np.stack(photo_rows), np.asarray(truths)


def split_rows(name: str, split: str, k: int = 1):
    """Rows of every FIT style on FIT_HALF's people, or of every REPORT style on the people
    bench_masked_styles reports (rmfd: the other half; Western: all)."""
    data = DATA[name]
    _, roster_n, n_str = B.SETS[name]
    if split == "fit":
        people = [p for p in data["enrol"] if B.half(p) == B.FIT_HALF]
        n_str = max(2, n_str // 3)
        roster_n = min(roster_n, len(people) - n_str)
    else:
        other = [p for p in data["enrol"] if B.half(p) != B.FIT_HALF]
        people = other if name in B.REPORT_HALF_ONLY else list(data["enrol"])
    parts = [rows(name, st, people, roster_n, n_str, k) for g, st, _, _ in B.style_list(REALS, name) if g == split]
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


# -- judging ------------------------------------------------------------------------------------


def best_runner(d: np.ndarray, truth: np.ndarray):
    o = np.argsort(d, axis=-1)
    b = np.take_along_axis(d, o[..., :1], -1)[..., 0]
    r = np.take_along_axis(d, o[..., 1:2], -1)[..., 0]
    return b, r, o[..., 0], truth < 0


def rates(named: np.ndarray, who: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    st = truth < 0
    n, s = max(1, int((~st).sum())), max(1, int(st.sum()))
    return (float((named & (who == truth) & ~st).sum() / n), float((named & (who != truth) & ~st).sum() / n),
            float((named & st).sum() / s))


def fit(parts, limit: float = LIMIT, stranger_limit: float = STRANGER_LIMIT):
    """accept and margin naming the most (mean over sets) within the limits on every set."""
    allb = np.concatenate([p[0] for p in parts])
    allm = np.minimum(np.concatenate([p[1] - p[0] for p in parts]), 10)
    best = None
    for acc in np.quantile(allb, np.linspace(0, 0.8, 81)):
        for mar in np.quantile(allm, np.linspace(0, 0.9, 61)):
            res = [rates((b < acc) & (r - b >= mar), w, t) for b, r, w, t in parts]
            if all(x[1] <= limit and x[2] <= stranger_limit for x in res):
                ident = float(np.mean([x[0] for x in res]))
                if best is None or ident > best[0]:
                    best = (ident, float(acc), float(mar))
    return best


def judged(d_fn, c, truth):
    b, r, w, st = best_runner(d_fn(c), truth)
    return b, r, w, truth


def full(c, i):
    return np.sqrt(c[..., i, :] ** 2 + c[..., i + 1, :] ** 2)


def base(c):
    return (full(c, 0) + full(c, 2)) / 2


DISTANCES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "covered (committed)": base,
    "plain only": lambda c: full(c, 0),
    "cover only": lambda c: full(c, 2),
    "plain->masked variants (the old way's half)": lambda c: full(c, 4),
    "periocular only": lambda c: full(c, 6),
    "periocular dlib half": lambda c: c[..., 6, :],
    "periocular FaceRes half": lambda c: c[..., 7, :],
    "0.75 covered + 0.25 periocular": lambda c: 0.75 * base(c) + 0.25 * full(c, 6),
    "0.5 covered + 0.5 periocular": lambda c: 0.5 * base(c) + 0.5 * full(c, 6),
    "covered, cover in 3 colours": lambda c: (full(c, 0) + full(c, 8)) / 2,
    "3 colours + 0.25 periocular": lambda c: 0.75 * (full(c, 0) + full(c, 8)) / 2 + 0.25 * full(c, 6),
    "covered, dlib half x2": lambda c: (np.sqrt(2 * c[..., 0, :] ** 2 + c[..., 1, :] ** 2)
                                        + np.sqrt(2 * c[..., 2, :] ** 2 + c[..., 3, :] ** 2)) / 2,
    "covered / roster spread": lambda c: base(c) / c[..., 10, :],
    "covered / probe's mean": lambda c: base(c) / base(c).mean(-1, keepdims=True),
}


def table(fit_r: dict, rep_r: dict) -> None:
    print("\ndistance: REPORT rank-1 and oracle (<=0.5% wrong, limits chosen on REPORT itself); limits fitted "
          "on the fitting split; REPORT identified / wrong / absentee-style named")
    for nm, fn in DISTANCES.items():
        parts = [judged(fn, fit_r[n][0], fit_r[n][2]) for n in DATA]
        f = fit(parts)
        cells = []
        for n in DATA:
            b, r, w, t = judged(fn, rep_r[n][0], rep_r[n][2])
            st = t < 0
            rank1 = float((w == t)[~st].mean())
            orc = fit([(b, r, w, t)], limit=0.005, stranger_limit=1.0)
            got = rates((b < f[1]) & (r - b >= f[2]), w, t) if f else (0, 0, 0)
            cells.append(f"{n}: rank-1 {rank1:.1%} oracle {orc[0] if orc else 0:.1%} | {got[0]:.1%} / {got[1]:.2%} / "
                         f"{got[2]:.1%}")
        print(f"  {nm:<44} " + ("no fit" if f is None else f"({f[1]:.3f}, {f[2]:.3f})") + "  " + " ;  ".join(cells),
              flush=True)


def tracks() -> None:
    print("\npseudo-tracks (k photos of one person in one style): mean of views with limits fitted on tracks "
          "of k (and with the committed limits), or votes of single photos judged with limits fitted on single "
          "photos: named when at least `need` photos give one name and none another")
    single = {}
    for k in (1, 2, 3):
        fr = {n: split_rows(n, "fit", k) for n in DATA}
        rr = {n: split_rows(n, "report", k) for n in DATA}
        for nm in ("covered (committed)", "0.75 covered + 0.25 periocular"):
            fn = DISTANCES[nm]
            f = fit([judged(fn, fr[n][0], fr[n][2]) for n in DATA])
            if k == 1:
                single[nm] = f
            cells = []
            for n in DATA:
                b, r, w, t = judged(fn, rr[n][0], rr[n][2])
                got = rates((b < f[1]) & (r - b >= f[2]), w, t)
                com = rates((b < 1.07) & (r - b >= 0.125), w, t)
                cells.append(f"{n} ({len(t)}): {got[0]:.1%} / {got[1]:.2%} / {got[2]:.1%} "
                             f"[committed limits {com[0]:.1%} / {com[1]:.2%} / {com[2]:.1%}]")
            print(f"  k={k} {nm:<32} mean of views ({f[1]:.3f}, {f[2]:.3f}): " + " ;  ".join(cells), flush=True)
            if k == 1:
                continue
            _, acc, mar = single[nm]
            for need in range(1, k + 1):
                cells = []
                for n in DATA:
                    b, r, w, _ = best_runner(fn(rr[n][1]), rr[n][2])   # (n, k)
                    t = rr[n][2]
                    ok = (b < acc) & (r - b >= mar)
                    who = np.where(ok, w, -2)
                    agree = np.array([len(set(x[x >= 0].tolist())) == 1 and (x >= 0).sum() >= need for x in who])
                    first = np.array([x[x >= 0][0] if (x >= 0).any() else -2 for x in who])
                    got = rates(agree, first, t)
                    cells.append(f"{n}: {got[0]:.1%} / {got[1]:.2%} / {got[2]:.1%}")
                print(f"        votes, need {need} of {k}: " + " ;  ".join(cells), flush=True)


if __name__ == "__main__":
    REALS = B.real_sources()
    DATA = {n: B.compute(n, REALS) for n in ("western", "rmfd")}
    EXTRA = {n: extras(n, d, REALS) for n, d in DATA.items()}
    table({n: split_rows(n, "fit") for n in DATA}, {n: split_rows(n, "report") for n in DATA})
    tracks()
