"""A small Chrome DevTools Protocol driver for Debian's headless Chromium (no browser download, no
extra dependency: `websockets` comes with uvicorn[standard])."""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import websockets

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class CdpError(RuntimeError):
    pass


class Page:
    def __init__(self, ws, target_id: str) -> None:
        self.ws = ws
        self.target_id = target_id
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self.console: list[str] = []
        self.dialogs: list[dict] = []   # window.confirm/alert/prompt as they open (click_then_answer answers them)
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in self._pending:
                    self._pending.pop(msg["id"]).set_result(msg)
                elif msg.get("method") == "Runtime.consoleAPICalled":
                    args = msg["params"].get("args", [])
                    self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
                elif msg.get("method") == "Page.javascriptDialogOpening":
                    self.dialogs.append(msg["params"])
                elif msg.get("method") == "Runtime.exceptionThrown":
                    self.console.append("EXCEPTION " + json.dumps(msg["params"]["exceptionDetails"])[:500])
        except websockets.ConnectionClosed:
            pass

    async def send(self, method: str, **params) -> dict:
        i = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[i] = fut
        await self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        msg = await asyncio.wait_for(fut, 60)
        if "error" in msg:
            raise CdpError(f"{method}: {msg['error']}")
        return msg.get("result", {})

    async def eval(self, expression: str, await_promise: bool = True):
        r = await self.send("Runtime.evaluate", expression=expression, awaitPromise=await_promise,
                            returnByValue=True)
        if "exceptionDetails" in r:
            raise CdpError(f"JS error: {r['exceptionDetails'].get('exception', {}).get('description', r)}")
        return r.get("result", {}).get("value")

    async def goto(self, url: str, timeout: float = 30.0) -> None:
        await self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if await self.eval("document.readyState") == "complete":
                    return
            except CdpError:
                pass
            await asyncio.sleep(0.1)
        raise CdpError(f"page did not load: {url}")

    async def login(self, base_url: str, username: str, password: str, page: str = "/login") -> None:
        """Sign in as a person does from this browser: the session cookie is set on `base_url`'s origin
        (opened at `page`, any page of that origin will do)."""
        await self.goto(f"{base_url}{page}")
        body = json.dumps({"username": username, "password": password})
        status = await self.eval(
            "fetch('/api/v1/auth/login', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            f" body: JSON.stringify({body})}}).then(r => r.status)")
        assert status == 200, f"{username} could not sign in ({status})"

    async def join_office(self, base_url: str, office_code: str, token: str, timeout: float = 40.0) -> None:
        """Open the office's join link with autojoin, as an operator's laptop does, and wait until its
        camera is connected (the page's status says why when it is not)."""
        await self.goto(f"{base_url}/live/join?office={office_code}#token={token}&autojoin=1")
        state = await self.wait_for("document.getElementById('status').dataset.state === 'connected' && 'yes'",
                                    timeout)
        assert state == "yes", (await self.eval("document.getElementById('status').textContent"), self.console)

    async def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.25):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = await self.eval(expression)
                if last:
                    return last
            except CdpError:
                pass
            await asyncio.sleep(interval)
        return last

    async def choose_files(self, selector: str, *paths: Path) -> None:
        """Choose files in an <input type=file>, as a person does in the browser's file picker."""
        r = await self.send("Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)})")
        object_id = r.get("result", {}).get("objectId")
        if not object_id:
            raise CdpError(f"no element {selector}")
        await self.send("DOM.setFileInputFiles", files=[str(p) for p in paths], objectId=object_id)

    async def click_then_answer(self, selector: str, accept: bool = True, timeout: float = 10.0) -> str:
        """Click what opens a window.confirm (or alert) and answer it as the person would; returns the
        question. The click is queued, not awaited: the page is blocked until the dialog is answered."""
        seen = len(self.dialogs)
        await self.eval(f"setTimeout(() => document.querySelector({json.dumps(selector)}).click(), 0); true")
        deadline = time.monotonic() + timeout
        while len(self.dialogs) == seen:
            if time.monotonic() > deadline:
                raise CdpError(f"clicking {selector} opened no dialog")
            await asyncio.sleep(0.05)
        await self.send("Page.handleJavaScriptDialog", accept=accept)
        return str(self.dialogs[seen].get("message", ""))

    async def allow_downloads(self, folder: Path) -> None:
        """Downloads (an export link, a download form) go to `folder` instead of being refused."""
        folder.mkdir(parents=True, exist_ok=True)
        await self.send("Page.setDownloadBehavior", behavior="allow", downloadPath=str(folder))

    async def screenshot(self, path: Path) -> None:
        r = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(r["data"]))

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


def fake_camera(y4m: Path | None = None) -> list[str]:
    """Chromium flags for a camera nobody has to allow: the test pattern, or `y4m` played as the camera."""
    flags = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    return [*flags, f"--use-file-for-fake-video-capture={y4m}"] if y4m is not None else flags


class Browser:
    def __init__(self, user_data_dir: Path, extra_args: list[str]) -> None:
        self.user_data_dir = user_data_dir
        self.args = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows", "--no-first-run", "--no-default-browser-check",
            "--window-size=1600,1000", f"--user-data-dir={user_data_dir}", "--remote-debugging-port=0",
            *extra_args, "about:blank",
        ]
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.pages: list[Page] = []

    async def start(self) -> None:
        # Its own process group: Debian's /usr/bin/chromium is a wrapper script, and the browser it
        # starts would outlive a terminate() sent to the wrapper alone.
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        port_file = self.user_data_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise CdpError("chromium did not start")
            await asyncio.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])

    async def new_page(self, url: str = "about:blank") -> Page:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?{url}", method="PUT")
        info = await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(req, timeout=10).read()))
        ws = await websockets.connect(info["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        page = Page(ws, info["id"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        self.pages.append(page)
        return page

    async def close(self) -> None:
        for p in self.pages:
            await p.close()
        if self.proc is not None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(5)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # type: ignore[union-attr]
        except ProcessLookupError:
            pass
