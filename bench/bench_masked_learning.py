"""What a confirmed masked face should teach the next apel: learning masked faces, offline.

Why: an operator's confirmation of an unknown face stores the track's as-is embedding as a
"sighting" template, which recognisers.Gallery averages into the person's photo centroid, masked or
not. A masked track is judged the covered way (recognise/occluded.py): the mean of (as-is views to
the photo centroid) and (covered views to the centroid of enrolment's masked variants). So a
learned masked face is diluted into an unmasked centroid, and it may pull that centroid toward a
generic masked look (the absent colleague who then attracts someone else's masked face).

Protocol (bench_masked_styles.py's photos, styles, halves and caches): per trial an office of
`roster_n` enrolled people and `n_str` not enrolled. Each enrolled person with a photo to spare
has a "day 1" confirmed masked face: ANOTHER photo of theirs than enrolment's, in a mask style
drawn from the group (FIT or REPORT styles), with its as-is embedding and, when the mask
classifier calls it masked, its covered view. "Day 2" probes are every other photo of theirs in
every OTHER style of the group, each judged alone (assign's first round), against the same
office; the people not enrolled are probed in every style of the group (a name given to one is the
absentee-style error: an absent colleague marked present in their place). Unmasked probes
("none") are judged too, to see what learning a masked face does to them.

Options, same offices, same probes:
- "nothing learned": today's covered way before any confirmation (the baseline of learning).
- "a: today": the day-1 face's as-is embedding averaged into the photo centroid (PHOTO_KINDS).
- "b: learned masked apart": a day-1 face the classifier called masked is kept out of the photo
  centroid; a person's centroid of such faces L, and a masked probe's distance is
  min(covered distance, scale * |probe - L|), judged with the covered limits; `scale` fitted on FIT
  styles and FIT_HALF people (the same criteria as the covered limits' fit).
- "c: cover into variants": the day-1 face's covered view added to the person's masked variants
  (as one more "masked" template), the comparison as today; "c2": the same with the learned
  cover weighted as much as all enrolment's variants together.
- "b+c": both (b's scale).
- "d: as-is into variants": the day-1 face's as-is embedding added to the masked variants instead
  (what the product can do without the covered view reaching the template); "c+d": both.
`--days 2`: two masked faces learned per person, each another photo and style.

Run: .venv/bin/python bench/bench_masked_learning.py [--only western|rmfd] [--trials 20]
[--compute-only]; the embeddings are bench_masked_styles.py's cache (/tmp/apel-vision-masked-styles)."""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_masked_styles as M

from attendance.vision.config import PipelineConfig
from attendance.vision.recognise.recognisers import MatchThresholds

# The styles each set is embedded in here (bench_masked_styles' names): every set needs at least
# three styles per group, so that day 1 and day 2 differ.
STYLES: dict[str, set[str] | None] = {
    "western": {"none", "surgical green", "cloth grey-blue", "batik parang", M.REAL_FIT,
                "surgical pink", "cloth maroon", "KN95 white", "batik kawung", M.REAL_REPORT},
    "rmfd": {"none", "surgical green", "cloth grey-blue", M.REAL_FIT,
             "surgical pink", "batik kawung", M.REAL_REPORT},
}
MASK_TH = PipelineConfig().mask_threshold
OPTIONS = ("nothing learned", "a: today", "b: learned masked apart", "c: cover into variants",
           "c2: cover weighted", "b+c", "d: as-is into variants", "c+d: both into variants")


@dataclass
class Probes:
    """Every probe of one trial, as rows of distances per option (n_roster each), with the truth."""
    d: dict[str, list[np.ndarray]] = field(default_factory=lambda: {o: [] for o in OPTIONS})
    dl: list[np.ndarray] = field(default_factory=list)      # |probe - L| (inf where no L)
    truth: list[int | None] = field(default_factory=list)
    covered: list[bool] = field(default_factory=list)
    unmasked_style: list[bool] = field(default_factory=list)
    has_learned: list[bool] = field(default_factory=list)   # the probe's own person learned a masked face


def _dist(c: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.linalg.norm(c - e, axis=1)


def office(data: dict, styles: list[str], n_enrol: int, roster_n: int, n_str: int, people: list[str],
           rng: np.random.Generator, probes_out: Probes, unmasked: bool, days: int = 1) -> None:
    """One office: enrolment, each enrolled person's day-1 confirmed masked face, and every day-2
    probe (masked styles other than the person's day-1 style; "none" when `unmasked`) judged by
    every option."""
    enrol, extra, probes = data["enrol"], data["extra"], data["probes"]
    pick = list(rng.permutation(sorted(people)))
    roster = [p for p in pick if len(enrol[p]) >= n_enrol + 1][:roster_n]
    strangers = [p for p in pick if p not in roster][:n_str]
    pc0, mc0, pca, pcb, mcc, mcc2, mcd, mcb, lrn = [], [], [], [], [], [], [], [], []
    used: dict[str, set[int]] = {}
    day1: dict[str, list[tuple[int, str, M.Probe]]] = {}
    for pid in roster:
        order = [int(i) for i in rng.permutation(len(enrol[pid]))[:n_enrol]]
        used[pid] = set(order)
        photos = [enrol[pid][i][0] for i in order]
        variants = [m for i in order for m in extra[pid][i]["old"]]
        pc0.append(np.mean(photos, axis=0))
        mc0.append(np.mean(variants, axis=0))
        spare = [int(i) for i in rng.permutation(len(enrol[pid])) if int(i) not in used[pid]]
        learned: list[tuple[int, str, M.Probe]] = []
        for s1 in rng.permutation(styles):   # one face a day: another photo, another style
            for j in spare[:-1]:   # keep a photo for day 2
                pr = probes[str(s1)].get(pid, [None] * (j + 1))[j]
                if pr is not None and j not in [x[0] for x in learned]:
                    learned.append((j, str(s1), pr))
                    break
            if len(learned) == days:
                break
        dim = pc0[-1].shape
        if not learned:
            pca.append(pc0[-1]), pcb.append(pc0[-1]), mcc.append(mc0[-1]), mcc2.append(mc0[-1])
            mcd.append(mc0[-1]), mcb.append(mc0[-1])
            lrn.append(np.full(dim, np.inf, np.float32))
            continue
        day1[pid] = learned
        pca.append(np.mean(photos + [pr.emb for _, _, pr in learned], axis=0))   # Gallery.build: rows alike
        m1 = [pr for _, _, pr in learned if pr.mask_p >= MASK_TH and "cover" in pr.extra]
        u1 = [pr.emb for _, _, pr in learned if not (pr.mask_p >= MASK_TH and "cover" in pr.extra)]
        pcb.append(np.mean(photos + u1, axis=0))
        lrn.append(np.mean([pr.emb for pr in m1], axis=0) if m1 else np.full(dim, np.inf, np.float32))
        covers = [pr.extra["cover"] for pr in m1]
        mcc.append(np.mean(variants + covers, axis=0))
        mcc2.append((mc0[-1] + np.mean(covers, axis=0)) / 2 if covers else mc0[-1])
        mcd.append(np.mean(variants + [pr.emb for pr in m1], axis=0))
        mcb.append(np.mean(variants + [pr.emb for pr in m1] + covers, axis=0))
    P0, M0, PA, PB, MC, MC2, MD, MB, L = map(np.stack, (pc0, mc0, pca, pcb, mcc, mcc2, mcd, mcb, lrn))
    has_l = np.isfinite(L[:, 0])
    Lz = np.where(has_l[:, None], L, 0.0)
    probe_styles = ["none"] if unmasked else styles
    for pid in roster + strangers:
        truth = roster.index(pid) if pid in used else None
        for s2 in probe_styles:
            if pid in day1 and s2 in [x[1] for x in day1[pid]]:
                continue
            for i, pr in enumerate(probes[s2].get(pid, [])):
                if pr is None or i in used.get(pid, ()) or (pid in day1 and i in [x[0] for x in day1[pid]]):
                    continue
                e = pr.emb
                covered = pr.mask_p >= MASK_TH and "cover" in pr.extra
                dl = np.where(has_l, _dist(Lz, e), np.inf)
                if covered:
                    c = pr.extra["cover"]
                    rows = {"nothing learned": (_dist(P0, e) + _dist(M0, c)) / 2,
                            "a: today": (_dist(PA, e) + _dist(M0, c)) / 2,
                            "b: learned masked apart": (_dist(PB, e) + _dist(M0, c)) / 2,
                            "c: cover into variants": (_dist(PB, e) + _dist(MC, c)) / 2,
                            "c2: cover weighted": (_dist(PB, e) + _dist(MC2, c)) / 2,
                            "d: as-is into variants": (_dist(PB, e) + _dist(MD, c)) / 2,
                            "c+d: both into variants": (_dist(PB, e) + _dist(MB, c)) / 2}
                    rows["b+c"] = rows["c: cover into variants"]
                else:   # compared as it is, nearest of the person's centroids, the recogniser's limits
                    rows = {"nothing learned": np.minimum(_dist(P0, e), _dist(M0, e)),
                            "a: today": np.minimum(_dist(PA, e), _dist(M0, e)),
                            "b: learned masked apart": np.minimum(_dist(PB, e), _dist(M0, e)),
                            "c: cover into variants": np.minimum(_dist(PB, e), _dist(MC, e)),
                            "c2: cover weighted": np.minimum(_dist(PB, e), _dist(MC2, e)),
                            "d: as-is into variants": np.minimum(_dist(PB, e), _dist(MD, e)),
                            "c+d: both into variants": np.minimum(_dist(PB, e), _dist(MB, e))}
                    rows["b+c"] = rows["c: cover into variants"]
                    dl = np.full_like(dl, np.inf)   # L only ever meets a face compared covered
                for o in OPTIONS:
                    probes_out.d[o].append(rows[o])
                probes_out.dl.append(dl)
                probes_out.truth.append(truth)
                probes_out.covered.append(covered)
                probes_out.unmasked_style.append(s2 == "none")
                probes_out.has_learned.append(truth is not None and bool(has_l[truth]))


def gather(data: dict, group: str, set_name: str, people: list[str], trials: int, unmasked: bool = False,
           seed: int = 0, days: int = 1) -> Probes:
    n_enrol, roster_n, n_str = M.SETS[set_name]
    if len(people) < roster_n + n_str:   # the fitting half: a third as many not enrolled (fit_judged)
        n_str = max(2, n_str // 3)
        roster_n = min(roster_n, len(people) - n_str)
    styles = [s for g, s, _, _ in M.style_list(M.real_sources(), set_name) if g == group]
    rng = np.random.default_rng(seed)
    out = Probes()
    for _ in range(trials):
        office(data, styles, n_enrol, roster_n, n_str, people, rng, out, unmasked, days)
    return out


@dataclass
class Count:
    probes: int = 0
    named_right: int = 0
    wrong: int = 0
    strangers: int = 0
    strangers_named: int = 0

    def row(self) -> str:
        n, s = max(1, self.probes), max(1, self.strangers)
        return (f"identified {self.named_right / n:6.1%} ({self.named_right:4d}/{self.probes:4d})  "
                f"wrong {self.wrong / n:5.2%} ({self.wrong:3d})  absentee-style {self.strangers_named / s:5.2%} "
                f"({self.strangers_named:3d}/{self.strangers:4d})")


def judge(p: Probes, option: str, th: MatchThresholds, th_cov: MatchThresholds, scale: float,
          where: np.ndarray | None = None) -> Count:
    """assign's first round on each probe alone: the nearest person, closer than accept and by
    the margin over the runner-up; a covered probe with the covered limits."""
    d = np.stack(p.d[option])
    if option.startswith("b"):
        d = np.where(np.stack(p.covered)[:, None], np.minimum(d, scale * np.stack(p.dl)), d)
    cov = np.array(p.covered, bool)
    keep = np.ones(len(d), bool) if where is None else where
    srt = np.sort(d, axis=1)
    best, runner = srt[:, 0], srt[:, 1]
    who = np.argmin(d, axis=1)
    acc = np.where(cov, th_cov.accept, th.accept)
    mar = np.where(cov, th_cov.margin, th.margin)
    named = (best < acc) & (runner - best >= mar) & keep
    truth = np.array([-1 if t is None else t for t in p.truth])
    stranger = truth < 0
    c = Count(probes=int((~stranger & keep).sum()), strangers=int((stranger & keep).sum()))
    c.named_right = int((named & ~stranger & (who == truth)).sum())
    c.wrong = int((named & ~stranger & (who != truth)).sum())
    c.strangers_named = int((named & stranger).sum())
    return c


def fit_scale(fits: dict[str, Probes], th: MatchThresholds, th_cov: MatchThresholds, option: str,
              limit: float = 0.005 * 0.75, stranger_limit: float = 0.02) -> float:
    """The scale of |probe - L| with the most masked people named on the FIT styles and FIT_HALF
    people, every set's wrong names within `limit` and absentee-style names within
    `stranger_limit` (fit_covered's criteria); and never more of either than nothing learned."""
    base = {n: judge(p, "nothing learned", th, th_cov, 1.0) for n, p in fits.items()}
    best: tuple[float, float] | None = None
    for scale in np.arange(0.60, 2.01, 0.02):
        res = {n: judge(p, option, th, th_cov, float(scale)) for n, p in fits.items()}
        ok = all(r.wrong / max(1, r.probes) <= max(limit, base[n].wrong / max(1, base[n].probes)) and
                 r.strangers_named / max(1, r.strangers) <= max(stranger_limit, base[n].strangers_named /
                                                                max(1, base[n].strangers))
                 for n, r in res.items())
        ident = float(np.mean([r.named_right / max(1, r.probes) for r in res.values()]))
        if ok and (best is None or ident > best[1]):
            best = (float(scale), ident)
    if best is None:   # the comparison with L can only add names: off (its distances never the nearest)
        print("no scale of b meets the limits on every set: b judged without L (scale 10)")
        return 10.0
    return round(best[0], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("western", "rmfd"), action="append")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--compute-only", action="store_true")
    ap.add_argument("--scale", type=float, default=None, help="the scale of b, instead of fitting it")
    ap.add_argument("--days", type=int, default=1, help="masked faces learned per person (each another style)")
    a = ap.parse_args()
    t0 = time.time()
    M.SET_STYLES.update(STYLES)
    reals = M.real_sources()
    names = a.only or ["western", "rmfd"]
    datasets = {}
    for n in names:
        datasets[n] = M.compute(n, reals)
    if a.compute_only:
        return
    th = MatchThresholds.load(M.BACKEND)
    th_cov = MatchThresholds.load(M.covered_key())
    fits = {n: gather(d, "fit", n, [p for p in d["enrol"] if M.half(p) == M.FIT_HALF], a.trials, days=a.days)
            for n, d in datasets.items()}
    scale = a.scale if a.scale is not None else fit_scale(fits, th, th_cov, "b: learned masked apart")
    scales = {"b: learned masked apart": scale, "b+c": scale}
    print(f"\ncovered limits {th_cov.accept}/{th_cov.margin}, own {th.accept}/{th.margin}; "
          f"scale of |probe - learned masked| fitted on FIT styles, half {M.FIT_HALF}: {scales}")
    for n, p in fits.items():
        print(f"\n{n}, FIT styles, people of half {M.FIT_HALF} (fitted on), masked probes:")
        for o in OPTIONS:
            print(f"  {o:<26} {judge(p, o, th, th_cov, scales.get(o, 1.0)).row()}")
    for n, d in datasets.items():
        other = sorted(p for p in d["enrol"] if M.half(p) != M.FIT_HALF)
        people = other if n in M.REPORT_HALF_ONLY else sorted(d["enrol"])
        rep = gather(d, "report", n, people, a.trials, seed=1, days=a.days)
        unm = gather(d, "report", n, people, a.trials, unmasked=True, seed=1, days=a.days)
        cov = np.array(rep.covered, bool)
        hl = np.array(rep.has_learned, bool)
        print(f"\n{n}, REPORT styles, {len(people)} people{' (other half)' if n in M.REPORT_HALF_ONLY else ''}, "
              f"{a.trials} offices; masked probes (called masked {cov.mean():.0%}):")
        for o in OPTIONS:
            print(f"  {o:<26} {judge(rep, o, th, th_cov, scales.get(o, 1.0)).row()}")
        print("  of them, the probes called masked (judged the covered way):")
        for o in OPTIONS:
            print(f"  {o:<26} {judge(rep, o, th, th_cov, scales.get(o, 1.0), where=cov).row()}")
        print("  of them, probes whose person learned a masked face on day 1 (and everyone not enrolled):")
        stranger = np.array([t is None for t in rep.truth])
        for o in OPTIONS:
            print(f"  {o:<26} {judge(rep, o, th, th_cov, scales.get(o, 1.0), where=hl | stranger).row()}")
        print("  unmasked probes (day 2 without a mask):")
        for o in OPTIONS:
            print(f"  {o:<26} {judge(unm, o, th, th_cov, scales.get(o, 1.0)).row()}")
        # genuine against different people's distances, covered probes: the person's own and the
        # nearest other enrolled person (strangers: the nearest)
        print("  distances of covered probes, median [10%, 90%]: own person / nearest other")
        truth = np.array([-1 if t is None else t for t in rep.truth])
        for o in ("nothing learned", "a: today", "c: cover into variants", "c2: cover weighted",
                  "d: as-is into variants"):
            dd = np.stack(rep.d[o])[cov & (truth >= 0)]
            tt = truth[cov & (truth >= 0)]
            own = dd[np.arange(len(dd)), tt]
            oth = np.where(np.arange(dd.shape[1])[None, :] == tt[:, None], np.inf, dd).min(axis=1)
            print(f"  {o:<26} own {np.median(own):.3f} [{np.quantile(own, .1):.3f}, {np.quantile(own, .9):.3f}]  "
                  f"other {np.median(oth):.3f} [{np.quantile(oth, .1):.3f}, {np.quantile(oth, .9):.3f}]  "
                  f"own < other {np.mean(own < oth):.1%}")
        dl = np.stack(rep.dl)[cov & (truth >= 0) & hl]
        tt = truth[cov & (truth >= 0) & hl]
        own = dl[np.arange(len(dl)), tt]
        oth = np.where(np.arange(dl.shape[1])[None, :] == tt[:, None], np.inf, dl).min(axis=1)
        print(f"  {'|probe - L| (as it is)':<26} own {np.median(own):.3f} [{np.quantile(own, .1):.3f}, "
              f"{np.quantile(own, .9):.3f}]  other {np.median(oth):.3f} [{np.quantile(oth, .1):.3f}, "
              f"{np.quantile(oth, .9):.3f}]  own < other {np.mean(own < oth):.1%}")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
