"""`apel analyze` and `apel synth-office`: the vision pipeline from the command line.

Bad input (unreadable or truncated video, empty or non-image files, an empty roster, a roster
photo without a usable face, absurd options) stops with a message naming the file or option
and a non-zero exit; the JSON is written to a temporary file and renamed only when complete."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from attendance.errors import ApelError, Invalid

if TYPE_CHECKING:
    import numpy as np

VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m"}


def _fail(msg: str) -> NoReturn:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


def image_frames(root: Path, fps: float) -> tuple[list[Path], Iterator[tuple[str, float, np.ndarray]]]:
    """Every file in the folder is a frame; check them all before analysing any."""
    import cv2
    import numpy as np

    from attendance.vision.roster_dir import read_image_rgb

    # A link whose target is gone is a photo the user meant to give: named, not skipped.
    files = sorted(p for p in root.rglob("*") if (p.is_file() or p.is_symlink() and not p.exists())
                   and not p.name.startswith("."))
    if not files:
        raise Invalid("bad_source", f"SOURCE {root}: folder has no files")
    for p in files:
        try:
            if p.stat().st_size == 0:
                raise ValueError(f"{p}: empty file (0 bytes)")
            if cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
                raise ValueError(f"{p}: not a readable image")
        except OSError as e:
            raise Invalid("bad_source", f"{p}: cannot be read ({e.strerror or e})") from e
        except ValueError as e:
            raise Invalid("bad_source", str(e)) from e

    def gen() -> Iterator[tuple[str, float, np.ndarray]]:
        for i, p in enumerate(files):
            try:   # the check above decodes at 1/8 size; the full decode can still fail
                rgb = read_image_rgb(p)
            except OSError as e:
                raise Invalid("bad_source", f"{p}: cannot be read ({e.strerror or e})") from e
            except ValueError as e:
                raise Invalid("bad_source", str(e)) from e
            yield str(p.relative_to(root)), i / fps, rgb[:, :, ::-1].copy()
    return files, gen()


def video_frames(path: Path, fps: float | None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Frames sampled at `fps` (default: every frame up to 5 per second). A video that cannot be
    opened, has no frames, or ends well before its declared length is an error."""
    import cv2

    if path.stat().st_size == 0:
        raise Invalid("bad_source", f"SOURCE {path}: empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise Invalid("bad_source", f"SOURCE {path}: cannot open as video")
    native = cap.get(cv2.CAP_PROP_FPS) or 25.0
    if not 0 < native < 1000:
        native = 25.0
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    rate = fps if fps is not None else min(native, 5.0)
    step = 1.0 / rate
    next_t = 0.0
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            t = i / native
            if t + 1e-6 >= next_t:
                next_t += step
                while next_t <= t:
                    next_t += step
                yield i, t, frame
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise Invalid("bad_source", f"SOURCE {path}: no decodable frames (unreadable or truncated video)")
    if declared > 10 and i < 0.9 * declared:
        raise Invalid("bad_source", f"SOURCE {path}: truncated video (decoded {i} of {declared} frames)")


def analyze_source(source: Path, roster_dir: Path, *, fps: float | None, hfov: float, min_distance: float,
                   with_frames: bool, workers: int = 1, back_row: float | None = None,
                   camera_height: float | None = None, eye_height: float | None = None,
                   row_lines: tuple[float, ...] | None = None, recogniser: str = "dlib+faceres",
                   sequence: bool = False) -> dict:
    """Analyse a video, an image or a folder of images. A folder's photos are each judged on
    their own (a fresh scene per photo: nothing is tracked from one unrelated photo to the next,
    so one person's views never vote on another's photo), unless `sequence` says they are
    consecutive frames of one scene; the roster and the networks are loaded once either way."""
    from attendance.assemblies.counts import alert_marks, counts_from_tallies
    from attendance.vision.config import PipelineConfig
    from attendance.vision.pipeline import OfficePipeline
    from attendance.vision.roster_dir import enrol_roster

    if not source.exists():
        raise Invalid("bad_source", f"SOURCE {source}: does not exist")
    roster = enrol_roster(roster_dir, recogniser=recogniser, on_skip=lambda p, why: typer.secho(
        f"warning: roster photo {p} skipped: {why}", fg=typer.colors.YELLOW, err=True))
    cfg = PipelineConfig(hfov_deg=hfov, min_distance_m=min_distance, back_row_m=back_row, camera_height_m=camera_height,
                         row_lines_m=row_lines, recogniser=recogniser)
    if eye_height is not None:
        cfg = replace(cfg, eye_height_m=eye_height)
    if not source.is_file() or source.suffix.lower() not in VIDEO_EXTS:
        cfg = cfg.for_stills()
    pipeline = OfficePipeline(roster, cfg)
    frames: Iterator[tuple[str | int, float, np.ndarray]]   # labelled by file name, or by a video's frame index
    if source.is_dir():
        _, frames = image_frames(source, fps or 1.0)
    elif source.suffix.lower() in VIDEO_EXTS:
        frames = video_frames(source, fps)
    else:
        _, frames = _single_image(source)
    started = time.perf_counter()
    people: dict[str, dict] = {}
    named_tracks: set[int] = set()
    all_tracks: set[int] = set()
    out_frames = []
    track_alerts: dict[int, int] = {}   # per track, the alert episodes it was in (assemblies.counts)
    n = 0
    own_scenes = source.is_dir() and not sequence
    for src, t_s, frame in frames:
        if own_scenes:
            pipeline.new_scene()
        res = pipeline.process(frame, t_s)
        n += 1
        for k, marks in alert_marks(res).items():
            tid = res.faces[k].track_id
            track_alerts[tid] = track_alerts.get(tid, 0) + marks
        for f in res.faces:
            all_tracks.add(f.track_id)
            if f.person_id is not None:
                named_tracks.add(f.track_id)
                p = people.setdefault(f.person_id,
                                      {"id": f.person_id, "first_seen_s": round(t_s, 3), "frames": 0, "_mask": 0})
                p["frames"] += 1
                p["_mask"] += int(f.mask)
        if with_frames:
            out_frames.append({
                "source": src, "t_s": round(t_s, 3),
                "faces": [{"box": list(f.box), "id": f.person_id, "distance": f.distance, "mask": bool(f.mask),
                           "mask_p": f.mask_p, "position_m": list(f.position_m)} for f in res.faces],
                "violations": [{"a": a, "b": b, "distance_m": d} for a, b, d in res.violations],
                "alerts": [{"a": al.a, "b": al.b, "distance_m": al.distance_m, "sd_m": al.sd_m, "new": al.new}
                           for al in res.alerts]})
    if n == 0:
        raise Invalid("bad_source", f"SOURCE {source}: no frames")
    counted = counts_from_tallies(((p["_mask"], p["frames"]) for p in people.values()), track_alerts.values())
    result = {
        "frames_analyzed": n,
        "seconds": round(time.perf_counter() - started, 3),
        "people": sorted(({"id": p["id"], "first_seen_s": p["first_seen_s"], "frames": p["frames"],
                           "mask_ratio": round(p["_mask"] / p["frames"], 3)} for p in people.values()),
                         key=lambda p: p["first_seen_s"]),
        "unknown_tracks": len(all_tracks - named_tracks),
        "distancing_alerts": counted.distancing_alerts,
        "mask_known": counted.mask_known, "masked": counted.masked,
        "mask_compliance": None if counted.mask_compliance is None else round(counted.mask_compliance, 4),
    }
    if with_frames:
        result["frames"] = out_frames
    return result


def _single_image(path: Path) -> tuple[list[Path], Iterator[tuple[str, float, np.ndarray]]]:
    from attendance.vision.roster_dir import read_image_rgb

    try:
        rgb = read_image_rgb(path)
    except ValueError as e:
        raise Invalid("bad_source", f"SOURCE {e}") from e
    return [path], iter([(path.name, 0.0, rgb[:, :, ::-1].copy())])


def _check_recogniser(spec: str) -> None:
    """Refuse an unknown --recogniser, or the default without FaceRes's files, before any work."""
    from attendance.vision.config import is_arcface_spec, is_dlib_spec, is_fused_spec
    from attendance.vision.runtime import model_files

    if is_fused_spec(spec) or is_arcface_spec(spec):
        try:
            model_files.check_recogniser(spec)
        except model_files.ModelFileError as e:
            _fail(f"--recogniser {spec}: {e}")
    elif not is_dlib_spec(spec) and not (spec.endswith(".onnx") and Path(spec).is_file()):
        _fail(f'--recogniser must be "dlib+faceres", "dlib+faceres+arcface", "dlib" or an existing .onnx file, '
              f'got {spec!r}')


def write_json_atomically(data: dict, out: Path) -> None:
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(out)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root `apel` app."""

    @app.command("analyze")
    def analyze(
        source: Path = typer.Argument(..., help="A video file, an image, or a folder of images (each judged on "
                                      "its own; with --sequence, frames of one scene)."),
        roster: Path = typer.Option(..., "--roster",
                                    help="Folder with one subfolder of photos per person (subfolder name = id)."),
        json_out: Path = typer.Option(None, "--json", help="Write the JSON here (default: standard output)."),
        frames: bool = typer.Option(False, "--frames", help="Include per-frame faces and violations."),
        fps: float = typer.Option(None, "--fps", help="Frames per second to sample from a video (default: up to 5); "
                                  "for images, the rate they were taken at (default 1)."),
        hfov: float = typer.Option(70.0, "--hfov", help="Camera horizontal field of view in degrees (20-170)."),
        min_distance: float = typer.Option(1.0, "--min-distance", help="Minimum distance between people in metres."),
        back_row: float = typer.Option(None, "--back-row",
                                       help="The back row's distance from the camera in metres (1-30), if known: "
                                       "faces are searched down to the size they have there (faster) "
                                       "instead of 32 px."),
        camera_height: float = typer.Option(None, "--camera-height",
                                            help="The camera's height above the floor in metres (0.5-20), if measured: "
                                            "fixes the heads' plane, fewer false distancing reports."),
        eye_height: float = typer.Option(None, "--eye-height",
                                         help="The staff's average eye height in metres (0.8-2.2; "
                                         "default 1.48, Indonesian adults), used with --camera-height."),
        row_lines: str = typer.Option(None, "--row-lines",
                                      help='The rows\' lines on the floor, each one\'s distance '
                                      'from the camera in metres (0.5-30, at least 0.3 apart), if measured: "3;4;5;6". '
                                      'A row standing on one is held to its depth.'),
        recogniser: str = typer.Option("dlib+faceres", "--recogniser",
                                       help='"dlib+faceres" (default; needs `apel models fetch`), '
                                       '"dlib+faceres+arcface" (or "arcface": adds InsightFace\'s w600k network, '
                                       'see docs/vision.md), "dlib", '
                                       'or the path of an ONNX embedding model you supply.'),
        sequence: bool = typer.Option(False, "--sequence",
                                      help="SOURCE is a folder of consecutive frames of one scene (faces are "
                                      "followed from one to the next and named over several); by default each "
                                      "photo of a folder is judged on its own. A video is always a sequence."),
    ) -> None:
        """Recognise enrolled people in a recording; report attendance, masks and distancing as JSON."""
        if fps is not None and not fps > 0:
            _fail(f"--fps must be positive, got {fps}")
        from attendance.vision.config import BACK_ROW_M, CAMERA_HEIGHT_M, EYE_HEIGHT_M, HFOV_DEG, MIN_DISTANCE_M

        for flag, value, bounds in (("--hfov", hfov, HFOV_DEG), ("--min-distance", min_distance, MIN_DISTANCE_M),
                                    ("--back-row", back_row, BACK_ROW_M),
                                    ("--camera-height", camera_height, CAMERA_HEIGHT_M),
                                    ("--eye-height", eye_height, EYE_HEIGHT_M)):
            if value is not None and value not in bounds:
                _fail(f"{flag} must be {bounds.text()}, got {value}")
        lines = None
        if row_lines is not None:
            from attendance.vision.config import read_row_lines

            try:
                lines = read_row_lines(row_lines)
            except ValueError as e:
                _fail(f"--row-lines: {e}")
        if json_out is not None and not json_out.parent.is_dir():
            _fail(f"--json {json_out}: folder {json_out.parent} does not exist")
        _check_recogniser(recogniser)
        try:
            data = analyze_source(source, roster, fps=fps, hfov=hfov, min_distance=min_distance, with_frames=frames,
                                  back_row=back_row, camera_height=camera_height, eye_height=eye_height,
                                  row_lines=lines, recogniser=recogniser, sequence=sequence)
        except ApelError as e:
            _fail(e.message)
        if json_out is None:
            sys.stdout.write(json.dumps(data, indent=1) + "\n")
        else:
            write_json_atomically(data, json_out)
            typer.echo(f"{data['frames_analyzed']} frames, {len(data['people'])} people recognised -> {json_out}",
                       err=True)

    models_app = typer.Typer(help="Model files fetched at install time (FaceRes for the default recogniser, "
                                  "BlazeFace for stills).",
                             no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("fetch")
    def models_fetch(
        directory: Path = typer.Option(None, "--dir", help="Where to put them (default APEL_MODELS_DIR, else "
                                       "<python environment>/share/apel/models)."),
        force: bool = typer.Option(False, "--force", help="Download again even if the files are there."),
    ) -> None:
        """Fetch FaceRes and BlazeFace (npm package @vladmandic/human, MIT) once and check their hashes.

        A no-op when they are present."""
        from attendance.vision.runtime import model_files

        try:
            d = model_files.fetch(directory, force=force)
        except model_files.ModelFileError as e:
            _fail(str(e))
        typer.echo(f"model files (FaceRes, BlazeFace) ready in {d}", err=True)

    @app.command("synth-office")
    def synth_office(
        roster: Path = typer.Option(..., "--roster", help="Folder with one subfolder of photos per person."),
        people: int = typer.Option(..., "--people", help="How many people stand in the office."),
        seconds: float = typer.Option(..., "--seconds", help="Clip length."),
        out: Path = typer.Option(..., "--out", help="Video to write (.mp4)."),
        truth: Path = typer.Option(..., "--truth", help="Ground truth JSON to write."),
        fps: float = typer.Option(10.0, "--fps", help="Frames per second of the clip."),
        hfov: float = typer.Option(70.0, "--hfov", help="Camera horizontal field of view (20-170)."),
        width: int = typer.Option(1920, "--width"),
        height: int = typer.Option(1080, "--height"),
        min_distance: float = typer.Option(1.0, "--min-distance",
                                           help="Distancing rule; about one pair in five breaks it."),
        masked_fraction: float = typer.Option(0.3, "--masked-fraction", help="Share of people wearing a mask (0-1)."),
        seed: int = typer.Option(0, "--seed"),
        nearest_row: float = typer.Option(3.0, "--nearest-row", help="Distance of the first row from the camera (m)."),
        farthest_row: float = typer.Option(6.0, "--farthest-row", help="Distance of the last row from the camera (m)."),
        arrive_within: float | None = typer.Option(
            None, "--arrive-within",
            help="People arrive over this many seconds (default 30% of the clip; 0 = all there from the start)."),
    ) -> None:
        """Render a synthetic office: people from ROSTER in rows at known positions (some masked, some too close)."""
        from attendance.vision.config import HFOV_DEG, MIN_DISTANCE_M
        from attendance.vision.training.synth_office import make_office

        checks = [(people >= 1, f"--people must be at least 1, got {people}"),
                  (0 < seconds <= 3600, f"--seconds must be in (0, 3600], got {seconds}"),
                  (0 < fps <= 60, f"--fps must be in (0, 60], got {fps}"),
                  (hfov in HFOV_DEG, f"--hfov must be {HFOV_DEG.text()}, got {hfov}"),
                  (160 <= width <= 7680 and 120 <= height <= 4320, f"--width/--height out of range: {width}x{height}"),
                  (min_distance in MIN_DISTANCE_M,
                   f"--min-distance must be {MIN_DISTANCE_M.text()}, got {min_distance}"),
                  (0 <= masked_fraction <= 1, f"--masked-fraction must be in [0, 1], got {masked_fraction}"),
                  (0.5 <= nearest_row <= farthest_row <= 50,
                   "--nearest-row/--farthest-row must satisfy 0.5 <= nearest <= farthest <= 50 m, "
                   f"got {nearest_row}, {farthest_row}"),
                  (arrive_within is None or 0 <= arrive_within <= seconds,
                   f"--arrive-within must be between 0 and --seconds, got {arrive_within}")]
        for ok, msg in checks:
            if not ok:
                _fail(msg)
        try:
            data = make_office(roster, people, seconds, out, truth, fps=fps, size=(width, height), hfov_deg=hfov,
                               min_distance_m=min_distance, masked_fraction=masked_fraction, seed=seed,
                               rows_m=(nearest_row, farthest_row), arrive_within_s=arrive_within)
        except (ApelError, ValueError, RuntimeError) as e:
            _fail(str(e))
        typer.echo(f"{len(data['people'])} people, {len(data['violations'])} pairs too close -> {out}, {truth}",
                   err=True)
