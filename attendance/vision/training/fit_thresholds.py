"""Fit the recogniser's acceptance distance and margin (models/thresholds.json) on real photos.

Data (read in place): ../shared/data/faces/lfw10 and faces/rmfd (East-Asian; the hard case).
Protocol (protocol.py): 20-person offices (10 for lfw10), 1 or 3 enrolment photos, probes as
tracks of 1-2 photos. Grid search (accept 0.34-1.10 and margin 0-0.087 of the median distance
between different people on lfw10, 45 and 21 steps; for the default recogniser about 0.40-1.28 by
0.02 and 0-0.10 by 0.005, the grid it was fitted on): the largest mean identified rate whose wrong rate
(roster people given another's name) stays within three quarters of the product's limits, 0.5%
on lfw10 and 1% on rmfd (HEADROOM), where on lfw10 a stranger (not on the roster) given a name
counts as wrong too. Strangers on rmfd are measured by
bench/bench_recognition.py.

The acceptance distance of names given by elimination (`elimination_accept`, see
recognisers.assign) is not searched for: it is the distance that at most ELIMINATION_IMPOSTOR_RATE
of different people's pairs reach on rmfd (a 2-photo track against a centroid of 1, 2 or 3
photos: one value each, since fewer photos put everybody further), because in those rounds the
margin no longer guards against a stranger (a visitor) taking the name of someone absent.

Accept and margin are searched without that limit, and the limit is added after: searched with
the limit in place, the grid loosens the margin, because the wrong names the limit prevents are
no longer counted against it; the conditions below count roster people named wrongly and
strangers, not absent colleagues marked present, and the looser margin marks more absentees
present (bench_recognition.py measures both; docs/vision.md). An absent person marked present is
the costliest error attendance can make (it feeds allowance deductions), so the stricter margin stays.

Run: .venv/bin/python -m attendance.vision.training.fit_thresholds [--backend dlib+faceres] [--elimination-only]"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from attendance.vision.config import backend_name
from attendance.vision.recognise.recognisers import MODELS_DIR, Gallery, MatchThresholds, aggregate
from attendance.vision.training.protocol import DATA, Outcome, embed_paths, identities, run_office
from attendance.vision.types import RosterPerson

# The limits are met with a quarter to spare on the photos fitted on, so that they still hold
# on photos not seen (a point fitted to the very edge sits on it only on average).
HEADROOM = 0.75
# A name by elimination must be one that a different person's track reaches at most this often.
ELIMINATION_IMPOSTOR_RATE = 0.02

Embeddings = dict[str, list[NDArray[np.float32]]]   # person id -> one embedding per photo


def load(root: Path, recogniser: str = "dlib") -> Embeddings:
    ids = identities(root, min_photos=3)
    emb = embed_paths([p for ps in ids.values() for p in ps], recogniser=recogniser)
    out: Embeddings = {}
    for pid, ps in ids.items():
        e = [found[0] for p in ps if (found := emb[p]) is not None]
        if len(e) >= 3:
            out[pid] = e
    return out


def conditions(lfw: Embeddings, rmfd: Embeddings) -> list[tuple[str, Embeddings, int, int, int, int]]:
    # Constrained (the product's targets): lfw10 with 1 photo, rmfd with 3 photos and 2-photo tracks.
    # lfw10 also with strangers: a Western face outside the roster must not get a name.
    return [("lfw10 1 photo, 1-photo probes", lfw, 10, 1, 1, 0),
            ("lfw10 1 photo, 7 on roster + 3 strangers", lfw, 7, 1, 1, 3),
            ("rmfd 3 photos, 2-photo tracks", rmfd, 20, 3, 2, 0)]


def evaluate(th: MatchThresholds, data: Embeddings, name: str, roster_n: int, n_enrol: int, probe_len: int, n_imp: int,
             trials: int = 30, seed: int = 0) -> Outcome:
    rng = np.random.default_rng(seed)
    tot = Outcome()
    ids = sorted(data)
    for _ in range(trials):
        pick = list(rng.permutation(ids))
        roster = [p for p in pick if len(data[p]) >= n_enrol + probe_len][:roster_n]
        imp = [p for p in pick if p not in roster][:n_imp]
        tot.add(run_office(roster, data, {}, n_enrol, probe_len, th, rng, imp))
    return tot


def impostor_scale(data: Embeddings) -> float:
    """The median distance between two different people's photos: each recogniser has its own
    scale (dlib's distances stay under 1, the fused ones reach 3), so the grid is laid in this
    unit (for the default, 0.40-1.28 by 0.02 as it was fitted before the unit)."""
    e = [(pid, x) for pid, xs in sorted(data.items()) for x in xs]
    lab = np.array([pid for pid, _ in e])
    x = np.stack([v for _, v in e]).astype(np.float64)
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    iu = np.triu_indices(len(lab), 1)
    return float(np.median(d[iu][(lab[:, None] != lab[None, :])[iu]]))


def elimination_accept(data: Embeddings, rate: float = ELIMINATION_IMPOSTOR_RATE, trials: int = 30,
                       seed: int = 0) -> list[float]:
    """For people enrolled from 1, 2 and 3 photos: the `rate` quantile of the distances between a
    person's 2-photo track and other people's centroids of that many photos, over the whole
    set's offices (rounded down to 0.005). A centroid of fewer photos lies further from
    everybody, so the same rate allows a longer distance."""
    out = []
    for n in (1, 2, 3):
        rng = np.random.default_rng(seed)
        people = [p for p in sorted(data) if len(data[p]) >= n + 2]
        impostor = []
        for _ in range(trials):
            roster, tracks = [], []
            for pid in people:
                e = data[pid]
                order = rng.permutation(len(e))
                roster.append(RosterPerson(pid, np.stack([e[i] for i in order[:n]]), ("photo",) * n))
                tracks.append(np.stack([e[i] for i in order[n:n + 2]]))
            g = Gallery.build(roster)
            for k, t in enumerate(tracks):
                impostor += list(np.delete(aggregate(g, t), g.ids.index(people[k])))
        out.append(round(float(np.floor(np.quantile(impostor, rate) / 0.005) * 0.005), 3))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="dlib", help='a recogniser: "dlib", "dlib+faceres" or an ONNX model path')
    ap.add_argument("--headroom", type=float, default=HEADROOM,
                    help="fit to this share of the wrong-rate limits (default %(default)s)")
    ap.add_argument("--elimination-only", action="store_true",
                    help="keep accept and margin as stored; fit only elimination_accept")
    a = ap.parse_args()
    name = backend_name(a.backend)
    path = MODELS_DIR / "thresholds.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    if a.elimination_only:
        if name not in data:
            sys.exit(f"{path} has no thresholds for {name}: fit them first (without --elimination-only)")
        rmfd = load(DATA / "faces/rmfd", a.backend)
        data[name]["elimination_accept"] = elim = elimination_accept(rmfd)
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"{name}: elimination_accept {elim} for 1/2/3+ photos ({ELIMINATION_IMPOSTOR_RATE:.0%} of rmfd's "
              f"different-people pairs, {len(rmfd)} people); wrote {path}")
        return
    lfw, rmfd = load(DATA / "faces/lfw10", a.backend), load(DATA / "faces/rmfd", a.backend)
    print(f"{name}: lfw10 {len(lfw)} people, rmfd {len(rmfd)} people with >=3 usable photos")
    scale = impostor_scale(lfw)
    print(f"median distance between different people on lfw10: {scale:.3f} (the grid's unit)")
    best = None
    for accept in scale * np.arange(0.34, 1.10, 0.017):
        for margin in scale * np.arange(0.0, 0.0875, 0.00425):
            th = MatchThresholds(accept=round(float(accept), 3), margin=round(float(margin), 3))
            res = [evaluate(th, c[1], c[0], c[2], c[3], c[4], c[5]) for c in conditions(lfw, rmfd)]
            ok = all((r.wrong + r.impostor_named) / max(1, r.probes + r.impostors)
                     <= a.headroom * (0.005 if c[0].startswith("lfw") else 0.01)
                     for r, c in zip(res, conditions(lfw, rmfd), strict=True))
            ident = float(np.mean([r.identified / max(1, r.probes) for r in res]))
            if ok and (best is None or ident > best[0]):
                best = (ident, th, res)
    if best is None:
        sys.exit("no threshold meets the wrong-rate limits")
    ident, th, res = best
    print(f"chosen accept={th.accept:.3f} margin={th.margin:.3f} (mean identified {ident:.3f})")
    for (cname, *_), r in zip(conditions(lfw, rmfd), res, strict=True):
        print(f"  {cname}: {r.rates()}")
    elim = elimination_accept(rmfd)
    print(f"elimination_accept {elim} for 1/2/3+ photos "
          f"({ELIMINATION_IMPOSTOR_RATE:.0%} of rmfd's different-people pairs)")
    data[name] = {"accept": th.accept, "margin": th.margin, "min_views": 1, "elimination_accept": elim,
                  "fitted_on": "shared/data faces/lfw10 + faces/rmfd by attendance/vision/training/fit_thresholds.py"}
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
