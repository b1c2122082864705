"""`apel camera`: attach an IP camera, a local video device or a video file to a running apel as one
office, without a browser. Reconnects with backoff when the connection drops; a refused token is final
(retrying a wrong or expired token cannot help). While connected it prints the server's camera check
(can this camera name its people, and what to change) whenever it changes. It sends what the source
gives: the resolution is the camera's to set (`--size` for a video device)."""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass

import typer

log = logging.getLogger("apel.camera")

JOIN_PATH = "/api/v1/live/office/join"
CHECK_PATH = "/api/v1/live/office/camera-check"
CHECK_EVERY_S = 2.0     # the server makes a new check about this often


class JoinRefused(Exception):
    """The server answered and said no (bad token, apel not open, bad offer): do not retry."""


class ServerUnreachable(Exception):
    pass


class CameraUnavailable(Exception):
    """The source could not be opened (a camera that is off or unreachable): retried like the server."""


@dataclass
class CameraOptions:
    server: str
    office: str
    token: str
    source: str
    loop: bool = False
    max_retries: int | None = None
    timeout_s: float = 15.0
    size: str | None = None
    framerate: str | None = None
    lang: str = "id"


def open_player(opts: CameraOptions):
    """aiortc's MediaPlayer reads RTSP URLs and V4L2 devices; a file is played by media's FilePlayer
    (it loops, and tells the file's end from a broken file)."""
    from aiortc.contrib.media import MediaPlayer

    from media.file_source import FilePlayer

    src = opts.source
    if "://" not in src and not src.startswith("/dev/video") and not os.path.exists(src):
        raise FileNotFoundError(f"video source not found: {src}")
    try:
        if src.startswith(("rtsp://", "rtsps://")):
            return MediaPlayer(src, options={"rtsp_transport": "tcp"}, decode=True)
        if src.startswith("/dev/video"):
            options = {"framerate": opts.framerate or "15"}
            if opts.size:
                options["video_size"] = opts.size
            return MediaPlayer(src, format="v4l2", options=options)
        return FilePlayer(src, loop=opts.loop)
    except ValueError as exc:   # a file with no video stream: retrying cannot help
        raise JoinRefused(str(exc)) from exc
    except OSError as exc:   # PyAV's errors (connection refused, no such device, bad data) are OSErrors
        # Named here, because the camera being down and the server being down call for different people.
        raise CameraUnavailable(f"cannot open the camera {src}: {exc.strerror or exc}") from exc


def _reason(resp) -> str:
    try:
        body = resp.json()
        detail = body.get("detail", body)
        if isinstance(detail, dict):
            return f"{detail.get('code', '')}: {detail.get('message', detail)}".strip(": ")
        return str(detail)
    except Exception:
        return resp.text[:200]


def _why_ended(player, source: str) -> str:
    """The video track ended: "ended" for a file played to its end, else "failed: <why>". A live
    camera's feed has no normal end, so its end is a failure (retried), never a clean exit."""
    from media.file_source import FileVideoTrack

    video = player.video
    if isinstance(video, FileVideoTrack):
        return f"failed: {video.error}" if video.error else "ended"
    return f"failed: the camera {source} stopped sending video"


def describe_check(report: dict | None, lang: str) -> list[str]:
    """The camera check as lines of text in `lang` (the words of locales/camera.json)."""
    from attendance.i18n import t

    if report is None:
        return [f"{t('camera.title', lang)}: {t('camera.state.waiting', lang)}"]
    state = report.get("state", "waiting")
    lines = [f"{t('camera.title', lang)}: {t(f'camera.state.short.{state}', lang)}. {t(f'camera.state.{state}', lang)}"]
    figures = {"width": report.get("width"), "height": report.get("height"), "faces": report.get("faces"),
               "median": report.get("median_face_px"), "smallest": report.get("smallest_face_px"),
               "under": report.get("under_floor"), "floor": report.get("floor_px")}
    lines.append("  " + t("camera.figures" if report.get("faces") else "camera.figures.none", lang, **figures))
    floor = report.get("floor_px")
    lines += [f"  - {t(f'camera.advice.{code}', lang, floor=floor)}" for code in report.get("advice", [])]
    return lines


async def watch_check(opts: CameraOptions, stop: asyncio.Event) -> None:
    """Print the office's camera check when its state or advice changes, until `stop`."""
    import httpx

    url = opts.server.rstrip("/") + CHECK_PATH
    headers = {"X-Office-Code": opts.office, "X-Office-Token": opts.token}
    last: tuple | None = None
    async with httpx.AsyncClient(timeout=opts.timeout_s) as http:
        while not stop.is_set():
            try:
                resp = await http.get(url, headers=headers)
                report = resp.json().get("camera") if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                report = None
            if report is not None and (report.get("state"), tuple(report.get("advice", []))) != last:
                last = (report.get("state"), tuple(report.get("advice", [])))
                typer.echo("\n".join(describe_check(report, opts.lang)))
            try:
                await asyncio.wait_for(stop.wait(), CHECK_EVERY_S)
            except TimeoutError:
                pass


async def run_once(opts: CameraOptions) -> str:
    """One connection, until it ends. Returns why it ended: "ended" (a file finished), "dropped" (the
    connection) or "failed: <why>" (the source stopped for an error)."""
    import httpx
    from aiortc.mediastreams import MediaStreamError

    from media.client import RestampedTrack, connect_peer

    player = open_player(opts)
    if player.video is None:
        raise JoinRefused(f"{opts.source} has no video stream")
    url = opts.server.rstrip("/") + JOIN_PATH

    async def signal(offer: dict) -> dict:
        payload = {"office": opts.office, "token": opts.token, **offer}
        try:
            async with httpx.AsyncClient(timeout=opts.timeout_s) as http:
                resp = await http.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"cannot reach {opts.server}: {exc.__class__.__name__}: {exc}") from exc
        if resp.status_code in (400, 401, 403, 404, 409, 422):
            raise JoinRefused(f"server refused the join ({resp.status_code}): {_reason(resp)}")
        if resp.status_code != 200:
            raise ServerUnreachable(f"server error {resp.status_code}: {_reason(resp)}")
        return resp.json()

    ended = asyncio.Event()
    why = {"reason": "dropped"}
    video = RestampedTrack(player.video)
    try:
        pc, reply = await connect_peer(signal, send_video=video, receive_video=False)
    except BaseException:
        _stop_player(player)
        raise
    typer.echo(f"joined apel {reply.get('assembly_id', '?')} as office {opts.office}")

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState in ("failed", "closed"):
            ended.set()

    original_recv = player.video.recv

    async def recv_watch():
        try:
            return await original_recv()
        except MediaStreamError:
            why["reason"] = _why_ended(player, opts.source)
            ended.set()
            raise

    player.video.recv = recv_watch  # notice the end of a file source
    checking = asyncio.ensure_future(watch_check(opts, ended))
    try:
        await ended.wait()
    finally:
        checking.cancel()
        await asyncio.gather(checking, return_exceptions=True)
        await pc.close()
        _stop_player(player)
    return why["reason"]


def _stop_player(player) -> None:
    for track in (player.audio, player.video):
        if track is not None:
            track.stop()


async def run_camera(opts: CameraOptions) -> int:
    attempt = 0
    while True:
        try:
            reason = await run_once(opts)
            if reason == "ended":
                typer.echo("source ended")
                return 0
            if reason.startswith("failed: "):   # counts towards --max-retries: never a clean exit
                typer.echo(f"error: {reason.removeprefix('failed: ')}", err=True)
            else:
                typer.echo("connection dropped", err=True)
                attempt = 0  # it was connected: start the backoff again from the bottom
        except JoinRefused as exc:
            typer.echo(f"error: {exc}", err=True)
            return 2
        except FileNotFoundError as exc:
            typer.echo(f"error: {exc}", err=True)
            return 2
        except (ServerUnreachable, CameraUnavailable) as exc:
            typer.echo(f"error: {exc}", err=True)
        except Exception as exc:  # anything unforeseen (a library error mid-stream): report and retry
            typer.echo(f"error: {exc.__class__.__name__}: {exc}", err=True)
        attempt += 1
        if opts.max_retries is not None and attempt > opts.max_retries:
            typer.echo("giving up", err=True)
            return 1
        delay = min(30.0, 2 ** (attempt - 1))
        typer.echo(f"retrying in {delay:.0f} s", err=True)
        await asyncio.sleep(delay)


def register(app: typer.Typer) -> None:
    @app.command()
    def camera(
        source: str = typer.Argument(..., help="RTSP URL, video device (/dev/video0) or video file."),
        server: str = typer.Option(..., "--server", help="Apel server URL, e.g. https://apel.example.go.id"),
        office: str = typer.Option(..., "--office", help="Office code."),
        token: str = typer.Option(..., "--token", help="The office's token for this apel.", envvar="APEL_OFFICE_TOKEN"),
        loop: bool = typer.Option(False, "--loop", help="Repeat a video file forever."),
        max_retries: int = typer.Option(-1, "--max-retries", help="Reconnection attempts (-1 = forever)."),
        size: str = typer.Option(None, "--size", help="Capture size for a video device, e.g. 1280x720."),
        framerate: str = typer.Option(None, "--framerate", help="Capture rate for a video device."),
        lang: str = typer.Option("id", "--lang", help="Language of the camera check: id | en."),
    ) -> None:
        """Join an apel as an office from an IP camera, video device or video file."""
        logging.basicConfig(level=logging.WARNING)
        opts = CameraOptions(server=server, office=office, token=token, source=source, loop=loop,
                             max_retries=None if max_retries < 0 else max_retries, size=size, framerate=framerate,
                             lang=lang)
        try:
            code = asyncio.run(run_camera(opts))
        except KeyboardInterrupt:
            code = 0
        sys.exit(code)
