"""A real Janus (Debian's `janus`, VideoRoom plugin) for the tests, with a configuration of its own in
a temporary folder: only the VideoRoom plugin and the HTTP transport (symlinked into private
plugin/transport folders, so nothing else loads), the HTTP API and the admin API on free loopback
ports, both behind secrets, no TLS, no STUN, no 1:1 NAT, a small RTP port range.

ICE is confined to the one address the aiortc peers gather on: aioice never offers 127.0.0.1, so a
loopback-only Janus could not reach them; the host's own first IPv4 address keeps the traffic on this
machine all the same."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

JANUS_BIN = shutil.which("janus") or "/usr/sbin/janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
API_SECRET = "apel-test-api-secret"
ADMIN_SECRET = "apel-test-admin-secret"
ADMIN_KEY = "apel-test-room-admin-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_ipv4() -> str:
    """The first non-loopback IPv4 address, the one aioice gathers (127.0.0.1 if there is none)."""
    import ifaddr  # aioice's own dependency

    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                return ip.ip
    return "127.0.0.1"


def _free_udp_range(size: int) -> tuple[int, int]:
    """`size` consecutive UDP ports that are free now, in a random high area (two Janus in one run
    must not share one)."""
    import random

    for _ in range(200):
        start = random.randrange(30000, 59000, 2)
        socks = []
        try:
            for p in range(start, start + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("0.0.0.0", p))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range for Janus")


class JanusServer:
    """`janus` as a subprocess; `url` is its HTTP API, `admin_url` its admin API."""

    def __init__(self, workdir: Path, *, rtp_ports: int = 200) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/janus"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}/admin"
        self.rtp_range = _free_udp_range(rtp_ports)
        self.ice_ip = host_ipv4()
        self.log_path = workdir / "janus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        conf = self.workdir / "conf"
        plugins, transports, empty = self.workdir / "plugins", self.workdir / "transports", self.workdir / "none"
        for d in (conf, plugins, transports, empty):
            d.mkdir(parents=True, exist_ok=True)
        for src, dst in ((JANUS_LIB / "plugins" / "libjanus_videoroom.so", plugins / "libjanus_videoroom.so"),
                         (JANUS_LIB / "transports" / "libjanus_http.so", transports / "libjanus_http.so")):
            if not dst.exists():
                dst.symlink_to(src)
        lo, hi = self.rtp_range
        (conf / "janus.jcfg").write_text(f"""
general: {{
    configs_folder = "{conf}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{empty}"
    loggers_folder = "{empty}"
    debug_level = 4
    debug_timestamps = true
    server_name = "apel-test"
    session_timeout = 60
    api_secret = "{API_SECRET}"
    admin_secret = "{ADMIN_SECRET}"
    protected_folders = ["/bin", "/boot", "/dev", "/etc", "/initrd", "/lib", "/lib32", "/lib64", "/proc",
                         "/sbin", "/sys", "/usr", "/var"]
}}
certificates: {{
}}
media: {{
    ipv6 = false
    rtp_port_range = "{lo}-{hi}"
}}
nat: {{
    ice_enforce_list = "{self.ice_ip}"
    ice_lite = false
    ice_tcp = false
    full_trickle = false
    ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
events: {{
    broadcast = false
}}
""")
        (conf / "janus.transport.http.jcfg").write_text(f"""
general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {self.port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_port = {self.admin_port}
    admin_ip = "127.0.0.1"
    admin_https = false
}}
cors: {{
}}
""")
        (conf / "janus.plugin.videoroom.jcfg").write_text(f"""
general: {{
    admin_key = "{ADMIN_KEY}"
    lock_rtp_forward = true
}}
""")
        return conf

    def start(self, timeout_s: float = 20.0) -> None:
        conf = self._write_config()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([JANUS_BIN, "-F", str(conf), "-C", str(conf / "janus.jcfg"), "-o"],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env={**os.environ, "LC_ALL": "C"})
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                r = httpx.get(f"{self.url}/info", timeout=1)
                if r.status_code == 200 and "janus.plugin.videoroom" in r.json().get("plugins", {}):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"janus did not answer within {timeout_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def admin(self, request: str, **fields: object) -> dict:
        """One admin API request (e.g. list_sessions), answered synchronously."""
        import secrets

        r = httpx.post(self.admin_url, json={"janus": request, "transaction": secrets.token_hex(6),
                                             "admin_secret": ADMIN_SECRET, **fields}, timeout=5)
        r.raise_for_status()
        return dict(r.json())

    def __enter__(self) -> JanusServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
