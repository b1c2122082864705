"""Recognition protocol shared by the threshold fitting script and the benchmarks.

An "office" is a roster of people enrolled from some photos each; probes are the people's
other photos, grouped as they would be on camera: each person at most once per frame, each
probe a short track (1-3 photos whose distances are averaged). Outcomes per probe: identified
(right person), wrong (another person's name, or a non-roster person named) or abstained."""
from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attendance.vision.config import backend_name, is_dlib_spec
from attendance.vision.enrol import FaceRejected, enrol_face
from attendance.vision.faces import DLIB_CHIP, embed_chips
from attendance.vision.recognise.recognisers import Gallery, MatchThresholds, aggregate, assign
from attendance.vision.roster_dir import IMAGE_EXTS, read_image_rgb
from attendance.vision.types import RosterPerson

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
CACHE = Path("/tmp/apel-vision-embeddings")


def identities(root: Path, min_photos: int = 2) -> dict[str, list[Path]]:
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        ph = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if len(ph) >= min_photos:
            out[d.name] = ph
    return out


class PlainDlib:
    """dlib's embedding of the chip alone, without the mirror average the product's recogniser
    adds (recognise.DlibRecogniser): what face_recognition.face_encodings gives, for baselines."""
    name = "dlib-128"
    dim = 128
    chip = DLIB_CHIP

    def embed(self, chips_rgb: Sequence[np.ndarray]) -> np.ndarray:
        return embed_chips(list(chips_rgb))


def embed_paths(paths: list[Path], masked: bool = False, plain: bool = False,
                recogniser: str = "dlib") -> dict[Path, tuple[np.ndarray, list[np.ndarray]] | None]:
    """Enrolment embeddings of photos (None when rejected), cached on disk by file content and
    the way they were embedded. `plain`: dlib's own embedding (PlainDlib), for baselines;
    `recogniser`: a make_recogniser spec ("dlib", "dlib+faceres", an ONNX path)."""
    CACHE.mkdir(exist_ok=True)
    out = {}
    how = b"plain" if plain else (b"mirror" if is_dlib_spec(recogniser) else backend_name(recogniser).encode())
    for p in paths:
        data = p.read_bytes()
        key = hashlib.sha256(data + (b"m" if masked else b"") + how).hexdigest()[:24]
        f = CACHE / f"{key}.pkl"
        if f.exists():
            out[p] = pickle.loads(f.read_bytes())
            continue
        try:
            e = enrol_face(read_image_rgb(p), min_face_px=40, masked_variants=masked,
                           recogniser=PlainDlib() if plain else recogniser)
            val = (e.embedding, e.masked_embeddings)
        except (FaceRejected, ValueError):
            val = None
        f.write_bytes(pickle.dumps(val))
        out[p] = val
    return out


@dataclass
class Outcome:
    identified: int = 0
    wrong: int = 0
    abstained: int = 0
    impostor_named: int = 0
    impostors: int = 0
    absent_named: int = 0     # names given to roster people not in the frame (a false "present")
    absent: int = 0

    @property
    def probes(self) -> int:
        return self.identified + self.wrong + self.abstained

    def add(self, o: Outcome) -> None:
        for k in ("identified", "wrong", "abstained", "impostor_named", "impostors", "absent_named", "absent"):
            setattr(self, k, getattr(self, k) + getattr(o, k))

    def rates(self) -> dict[str, float]:
        n = max(1, self.probes)
        return {"probes": self.probes, "identified": self.identified / n, "wrong": self.wrong / n,
                "abstained": self.abstained / n, "impostors": self.impostors,
                "impostor_named": self.impostor_named / max(1, self.impostors), "absent": self.absent,
                "absent_named": self.absent_named / max(1, self.absent)}


def run_office(ids: list[str], embs: dict[str, list[np.ndarray]], masked: dict[str, list[np.ndarray]],
               n_enrol: int, probe_len: int, th: MatchThresholds, rng: np.random.Generator,
               impostor_ids: Sequence[str] = (), use_masked: bool = False, assignment: bool = True,
               raw: bool = False, shuffle: bool = True, rounds: int = 8, n_absent: int = 0) -> Outcome:
    """One trial: enrol the first photos (shuffled) of each roster person, probe with a track of
    `probe_len` other photos per person (plus impostors), all in one frame; the first `n_absent`
    roster people stay away (enrolled, not in the frame)."""
    roster, probes = [], []
    truth: list[str | None] = []
    absent = set(ids[:n_absent])
    for pid in ids:
        e = list(embs[pid])
        order = rng.permutation(len(e)) if shuffle else np.arange(len(e))
        enrol = [e[i] for i in order[:n_enrol]]
        extra = [m for i in order[:n_enrol] for m in masked.get(pid, [])[i]] if use_masked else []
        roster.append(RosterPerson(pid, np.stack(enrol + extra), ("photo",) * len(enrol) + ("masked",) * len(extra)))
        rest = [e[i] for i in order[n_enrol:]]
        if len(rest) >= probe_len and pid not in absent:
            probes.append(np.stack(rest[:probe_len]))
            truth.append(pid)
    for pid in impostor_ids:
        e = embs[pid]
        if len(e) >= probe_len:
            probes.append(np.stack(e[:probe_len]))
            truth.append(None)
    g = Gallery.build(roster)
    raw_templates = np.concatenate([r.embeddings[:n_enrol] for r in roster])
    raw_owner = np.concatenate([[i] * min(n_enrol, len(r.embeddings)) for i, r in enumerate(roster)])
    cost = np.stack([aggregate(g, p) for p in probes])
    out = Outcome(absent=len(absent))
    if raw:
        # The library's way: each probe photo against each enrolment photo, nearest within
        # tolerance 0.6, independently per face (no aggregation, no assignment).
        decisions = []
        for p in probes:
            d = np.linalg.norm(p[:1, None, :] - raw_templates[None, :, :], axis=2)[0]
            decisions.append(int(raw_owner[np.argmin(d)]) if d.min() <= 0.6 else None)
    elif assignment:
        decisions = [d.person for d in assign(cost, th, [probe_len] * len(probes), rounds=rounds, photos=g.photos)]
    else:
        decisions = [d.person for i in range(len(probes)) for d in assign(cost[i:i + 1], th, [probe_len])]
    for dec, t in zip(decisions, truth, strict=True):
        name = g.ids[dec] if dec is not None else None
        out.absent_named += name in absent
        if t is None:
            out.impostors += 1
            out.impostor_named += name is not None
            continue
        if name is None:
            out.abstained += 1
        elif name == t:
            out.identified += 1
        else:
            out.wrong += 1
    return out
