"""A small asynchronous client of Janus's HTTP API (the REST transport): sessions, plugin handles,
synchronous plugin requests, asynchronous plugin messages (answered by an event on the session's
long poll) and keepalives.

Only Apel talks to Janus (docs/janus.md): every request carries the API secret, so Janus's port
refuses anyone else even where it can be reached. A Janus that is down or unreachable is a
`JanusUnavailable` (503, code `janus_unreachable`) after a few quick retries, and a session whose
long poll fails for good calls `on_lost`, so the people using it hear of it instead of watching a
feed go silently black."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

import httpx

from attendance.errors import ApelError

log = logging.getLogger("apel.media.janus")

CONNECT_ATTEMPTS = 3        # a request to an unreachable Janus is tried this often ...
RETRY_DELAY_S = 0.5         # ... this long apart (then the caller hears `janus_unreachable`)
KEEPALIVE_S = 25.0          # Janus drops a session after 60 s without a request (its session_timeout)
POLL_FAILURES_LOST = 3      # long polls failing in a row before the session counts as lost

EventCallback = Callable[[int, dict[str, Any]], None]      # (handle id, the event), unsolicited events


class JanusError(ApelError):
    """Janus refused a request (a plugin error: no such room, a wrong secret, a bad SDP)."""

    status = 502
    default_code = "janus_error"


class JanusUnavailable(JanusError):
    """Janus cannot be reached (down, a wrong URL, a network fault), or it lost Apel's session."""

    status = 503
    default_code = "janus_unreachable"


def _tx() -> str:
    return secrets.token_hex(8)


class JanusClient:
    """One HTTP connection pool to one Janus. `url` is its API base (e.g. http://127.0.0.1:8088/janus)."""

    def __init__(self, url: str, *, api_secret: str | None = None, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.api_secret = api_secret
        self.timeout_s = timeout_s
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(3.0, timeout_s)))

    def _body(self, janus: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"janus": janus, "transaction": _tx(), **fields}
        if self.api_secret:
            body["apisecret"] = self.api_secret
        return body

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request with Janus's own answer; Janus's `error` answers raise JanusError."""
        url = self.url + path
        last: Exception | None = None
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                resp = await self._http.post(url, json=body)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
                last = exc
                if attempt + 1 < CONNECT_ATTEMPTS:
                    await asyncio.sleep(RETRY_DELAY_S)
            except httpx.HTTPError as exc:
                raise JanusUnavailable(None, f"Janus at {self.url} did not answer: {exc.__class__.__name__}: {exc}") \
                    from exc
        else:
            raise JanusUnavailable(None, f"Janus at {self.url} cannot be reached "
                                   f"({last.__class__.__name__}: {last})") from last
        try:
            data = resp.json()
        except ValueError as exc:
            raise JanusUnavailable(None, f"Janus at {self.url} answered HTTP {resp.status_code} without JSON "
                                   "(is APEL_JANUS_URL the API's address, e.g. http://host:8088/janus?)") from exc
        if not isinstance(data, dict):
            raise JanusError(None, f"Janus answered {data!r}")
        if data.get("janus") == "error":
            err = data.get("error") or {}
            code, reason = err.get("code"), err.get("reason", "unknown error")
            if code in (403, 458):   # unauthorized (a wrong API secret), or no such session (Janus restarted)
                raise JanusUnavailable(None, f"Janus refused Apel ({code}: {reason})", details={"janus_code": code})
            raise JanusError(None, f"Janus error {code}: {reason}", details={"janus_code": code})
        return data

    async def info(self) -> dict[str, Any]:
        """The server's description (version, plugins): a cheap check that Janus is up."""
        try:
            resp = await self._http.get(self.url + "/info")
            return dict(resp.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise JanusUnavailable(None, f"Janus at {self.url} cannot be reached ({exc.__class__.__name__}: "
                                   f"{exc})") from exc

    async def create_session(self, on_event: EventCallback | None = None,
                             on_lost: Callable[[str], None] | None = None) -> JanusSession:
        data = await self.post("", self._body("create"))
        session = JanusSession(self, int(data["data"]["id"]), on_event=on_event, on_lost=on_lost)
        session.start()
        return session

    async def aclose(self) -> None:
        await self._http.aclose()


class JanusSession:
    """A Janus session: its long poll routes events to the requests that wait for them (by
    transaction) and the rest to `on_event`; a keepalive keeps it open between requests."""

    def __init__(self, client: JanusClient, session_id: int, *, on_event: EventCallback | None = None,
                 on_lost: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.id = session_id
        self.on_event = on_event
        self.on_lost = on_lost
        self.lost: str | None = None          # why the session is gone, once it is
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def path(self) -> str:
        return f"/{self.id}"

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._poll()), asyncio.ensure_future(self._keepalive())]

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> JanusHandle:
        self._check()
        data = await self.client.post(self.path, self.client._body("attach", plugin=plugin))
        return JanusHandle(self, int(data["data"]["id"]))

    def _check(self) -> None:
        if self.lost is not None:
            raise JanusUnavailable(None, f"Apel's Janus session is gone: {self.lost}")

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self.client.post(self.path, self.client._body("keepalive"))
            except asyncio.CancelledError:
                raise
            except ApelError as exc:
                log.warning("Janus keepalive failed: %s", exc.message)

    async def _poll(self) -> None:
        failures = 0
        params: dict[str, str] = {"maxev": "10"}
        if self.client.api_secret:
            params["apisecret"] = self.client.api_secret
        while not self._closed:
            try:
                resp = await self.client._http.get(self.client.url + self.path, params=params,
                                                   timeout=httpx.Timeout(40.0, connect=3.0))
                events = resp.json()
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, ValueError) as exc:
                failures += 1
                if failures >= POLL_FAILURES_LOST:
                    self._lose(f"Janus at {self.client.url} cannot be reached ({exc.__class__.__name__})")
                    return
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            failures = 0
            for event in events if isinstance(events, list) else [events]:
                if isinstance(event, dict):
                    if event.get("janus") == "error" and (event.get("error") or {}).get("code") == 458:
                        self._lose("Janus no longer knows Apel's session (it restarted?)")
                        return
                    self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("janus")
        if kind == "keepalive":
            return
        waiter = self._waiting.get(str(event.get("transaction", "")))
        if waiter is not None and kind == "event" and not waiter.done():
            waiter.set_result(event)
            return
        if self.on_event is not None:
            try:
                self.on_event(int(event.get("sender") or 0), event)
            except Exception:
                log.exception("Janus event callback failed")

    def _lose(self, why: str) -> None:
        if self.lost is not None:
            return
        self.lost = why
        log.error("Janus session %s lost: %s", self.id, why)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(JanusUnavailable(None, why))
        if self.on_lost is not None:
            try:
                self.on_lost(why)
            except Exception:
                log.exception("Janus on_lost callback failed")

    async def destroy(self) -> None:
        """Ends the session (Janus then hangs up and detaches its handles)."""
        self._closed = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.lost is None:
            try:
                await self.client.post(self.path, self.client._body("destroy"))
            except ApelError as exc:
                log.info("destroying Janus session %s: %s", self.id, exc.message)


def _plugin_data(answer: dict[str, Any]) -> dict[str, Any]:
    data = dict((answer.get("plugindata") or {}).get("data") or {})
    if "error_code" in data or "error" in data:
        raise JanusError(None, f"Janus VideoRoom error {data.get('error_code')}: {data.get('error')}",
                         details={"janus_code": data.get("error_code")})
    return data


class JanusHandle:
    """A handle on a plugin within a session."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.detached = False

    @property
    def path(self) -> str:
        return f"{self.session.path}/{self.id}"

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (create, destroy, exists, listparticipants, rtp_forward ...):
        the plugin's data, or JanusError."""
        self.session._check()
        answer = await self.session.client.post(self.path, self.session.client._body("message", body=body))
        return _plugin_data(answer)

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                      timeout_s: float = 15.0) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """An asynchronous plugin request (join, configure, start): Janus acks it, and its answer comes
        as an event on the long poll. Returns the plugin's data and the event's JSEP, if any."""
        self.session._check()
        client = self.session.client
        fields: dict[str, Any] = {"body": body}
        if jsep is not None:
            fields["jsep"] = jsep
        req = client._body("message", **fields)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.session._waiting[req["transaction"]] = waiter
        try:
            ack = await client.post(self.path, req)
            if ack.get("janus") == "success":   # some requests are answered at once
                return _plugin_data(ack), ack.get("jsep")
            try:
                event = await asyncio.wait_for(waiter, timeout_s)
            except TimeoutError as exc:
                raise JanusUnavailable(None, f"Janus did not answer {body.get('request')!r} within "
                                       f"{timeout_s:.0f} s") from exc
        finally:
            self.session._waiting.pop(req["transaction"], None)
            if waiter.done():
                if not waiter.cancelled():
                    waiter.exception()   # seen here (the session was lost while the request was sent)
            else:
                waiter.cancel()
        return _plugin_data(event), event.get("jsep")

    async def detach(self) -> None:
        """Hangs up this handle's PeerConnection and releases it (a publisher leaves its room)."""
        if self.detached:
            return
        self.detached = True
        if self.session.lost is not None:
            return
        try:
            await self.session.client.post(self.path, self.session.client._body("detach"))
        except ApelError as exc:
            log.info("detaching Janus handle %s: %s", self.id, exc.message)
