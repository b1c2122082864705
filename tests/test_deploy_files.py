"""The deployment files (deploy/) and docs/deploy.md against the code, so they cannot drift apart.

Every APEL_* name they mention is a field of app.settings.Settings; the example env file's values are
accepted by Settings; the units run real `apel` sub-commands with real options, carry the settings and
hardening docs/deploy.md promises, and give each process at least the time its own stop takes; nginx
takes the largest body Apel takes; the Janus snippets set what Apel needs of Janus."""
from __future__ import annotations

import configparser
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deploy.md"
UNITS = ("apel-web.service", "apel-node@.service")
ENV_FILE = DEPLOY / "apel.env"
APEL_NAME = re.compile(r"\bAPEL_[A-Z0-9_]*[A-Z0-9]\b")
ENV_LINE = re.compile(r"^(#)?([A-Z_][A-Z0-9_]*)=(.*)$")


class _Repeated(dict[str, Any]):
    """configparser's section dict that keeps every value of a key given twice (systemd allows
    EnvironmentFile= and others more than once): they come out joined by newlines."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and key in self:
            dict.__getitem__(self, key).extend(value)
        else:
            super().__setitem__(key, value)


def read_unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, dict_type=_Repeated, interpolation=None,
                                          comment_prefixes=("#", ";"), empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]   # systemd's keys are case-sensitive
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


def values(unit: configparser.RawConfigParser, section: str, key: str) -> list[str]:
    return [v.strip() for v in unit.get(section, key, fallback="").splitlines() if v.strip()]


def env_entries(*, commented: bool) -> dict[str, str]:
    """KEY=value lines of deploy/apel.env (and `#KEY=value` examples too when commented), quotes
    removed as systemd and the shell remove them; a later line wins."""
    out: dict[str, str] = {}
    for line in ENV_FILE.read_text(encoding="utf-8").splitlines():
        m = ENV_LINE.match(line.strip())
        if not m or (m.group(1) and not commented):
            continue
        value = m.group(3).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[m.group(2)] = value
    return out


def settings_names() -> set[str]:
    return {f"APEL_{name.upper()}" for name in Settings.model_fields}


def apel_cli() -> Any:
    """The `apel` command as typer builds it (typer carries its own click: groups are told apart by
    their `commands`)."""
    from app.cli import main

    group = typer.main.get_command(main.app)
    if "node" not in subcommands(group):   # the areas register their sub-commands in main()
        main._register_all()
        group = typer.main.get_command(main.app)
    return group


def subcommands(command: Any) -> dict[str, Any]:
    return dict(getattr(command, "commands", None) or {})


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The `apel` command that `apel WORDS...` runs and the words left for it; None if there is none."""
    command = apel_cli()
    rest = list(words)
    while is_group(command) and rest:
        sub = subcommands(command).get(rest[0])
        if sub is None:
            return None, rest
        command, rest = sub, rest[1:]
    if is_group(command):
        return None, rest
    return command, rest


def deploy_texts() -> dict[str, str]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()] + [DOC]
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files}


def test_every_apel_name_is_a_setting() -> None:
    known = settings_names()
    unknown = sorted({f"{where}: {name}" for where, text in deploy_texts().items()
                      for name in APEL_NAME.findall(text) if name not in known})
    assert not unknown, f"names that app.settings.Settings does not define: {unknown}"


def test_the_check_sees_a_wrong_name() -> None:
    """The check above must be able to fail: a misspelt name is not a setting."""
    assert "APEL_JANUS_SECRET" not in settings_names()
    assert APEL_NAME.findall("set APEL_JANUS_SECRET=x") == ["APEL_JANUS_SECRET"]


def test_env_file_lines_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line is a comment or KEY=value, and Settings accepts the values as the units pass them
    (first as given, then with the commented Janus and TURN examples switched on)."""
    for n, line in enumerate(ENV_FILE.read_text(encoding="utf-8").splitlines(), 1):
        assert not line.strip() or line.lstrip().startswith("#") or ENV_LINE.match(line), f"line {n}: {line!r}"
    for commented in (False, True):
        entries = env_entries(commented=commented)
        for name in list(os.environ):
            if name.startswith("APEL_"):
                monkeypatch.delenv(name)
        for key, value in entries.items():
            monkeypatch.setenv(key, value)
        # the model files are another test's business: the recogniser needing none is enough here
        monkeypatch.setenv("APEL_RECOGNIZER", "dlib")
        s = Settings(_env_file=None)
        assert str(s.data_dir) == entries["APEL_DATA_DIR"]
        assert s.cookie_secure and s.trusted_proxy_networks
        if commented:
            assert s.media == "janus" and s.janus_url and len(s.ice_servers) == 3


def test_units_run_real_commands_with_real_options() -> None:
    seen = set()
    for name in UNITS:
        unit = read_unit(name)
        for key in ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecReload"):
            for line in values(unit, "Service", key):
                words = shlex.split(line.lstrip("-@:+!"))
                assert Path(words[0]).name == "apel", f"{name} {key}: {line}"
                command, rest = resolve(words[1:])
                assert command is not None, f"{name} {key}: `apel {' '.join(words[1:])}` is no apel command"
                options = {opt for p in command.params for opt in p.opts}
                given = {w.split("=", 1)[0] for w in rest if w.startswith("--")}
                assert given <= options, f"{name}: {sorted(given - options)} are not options of {command.name}"
                seen.add(command.name)
    assert seen == {"serve", "node"}


def test_the_command_check_sees_a_wrong_command() -> None:
    assert resolve(["serve"])[0] is not None and resolve(["db", "upgrade"])[0] is not None
    assert resolve(["serv"])[0] is None and resolve(["db"])[0] is None and resolve(["db", "migrate"])[0] is None


def test_doc_names_real_commands() -> None:
    """`apel X ...` in docs/deploy.md and the units (inline, `apel-admin X`, `.../bin/apel X`)."""
    pattern = re.compile(r"(?:`apel|apel-admin|/bin/apel) ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)")
    groups = {name for name, c in subcommands(apel_cli()).items() if is_group(c)}
    found = 0
    for where, text in deploy_texts().items():
        for m in pattern.finditer(text):
            words = m.group(1).split()
            words = words if words[0] in groups else words[:1]
            found += 1
            assert resolve(words)[0] is not None, f"{where}: `apel {' '.join(words)}` is no apel command"
    assert found >= 10


@pytest.mark.parametrize("name", UNITS)
def test_units_settings_and_hardening(name: str) -> None:
    unit = read_unit(name)
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    svc = dict(unit.items("Service"))
    assert "/etc/apel/apel.env" in values(unit, "Service", "EnvironmentFile")
    assert svc["User"] == "apel" and svc["Group"] == "apel"
    assert svc["Restart"] == "on-failure" and svc["KillSignal"] == "SIGTERM"
    for key in ("NoNewPrivileges", "PrivateTmp"):
        assert svc[key] == "yes", key
    assert svc["ProtectSystem"] == "strict"
    data_dir = env_entries(commented=False)["APEL_DATA_DIR"]
    assert data_dir in svc["ReadWritePaths"].split()
    assert svc["WorkingDirectory"] == data_dir
    assert unit.get("Install", "WantedBy") == "multi-user.target"


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|min)?", value.strip())
    assert m, f"TimeoutStopSec={value!r}: write it in seconds"
    return float(m.group(1)) * (60 if m.group(2) == "min" else 1)


def test_stop_timeouts_cover_each_stop() -> None:
    """systemd must not SIGKILL a stop that is still writing sightings: the web node's stop takes
    uvicorn's grace, then the writer's drain and the vision workers' start at worst; a node's, its
    STOP_S (documented: under 5 s)."""
    from app.cli.main import GRACEFUL_SHUTDOWN_S
    from app.live import node as live_node
    from app.live import service as live_service

    web = _seconds(read_unit("apel-web.service").get("Service", "TimeoutStopSec"))
    worst = GRACEFUL_SHUTDOWN_S + live_service.STOP_DRAIN_S + live_service.POOL_START_S
    assert worst <= web <= worst + 30
    node = _seconds(read_unit("apel-node@.service").get("Service", "TimeoutStopSec"))
    assert max(5.0, 2 * live_node.STOP_S) <= node <= 30


def _nginx_bytes(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert m, value
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def test_nginx_takes_the_largest_upload_and_streams_events() -> None:
    from app.web.enrol import MAX_CSV_BYTES
    from app.web.uploads import MULTIPART_OVERHEAD

    conf = (DEPLOY / "nginx" / "apel.conf").read_text(encoding="utf-8")
    sizes = re.findall(r"^\s*client_max_body_size\s+(\S+);", conf, re.M)
    assert len(sizes) == 1
    limit = _nginx_bytes(sizes[0])
    default_zip = Settings.model_fields["max_zip_bytes"].default
    zip_bytes = int(env_entries(commented=False).get("APEL_MAX_ZIP_BYTES", default_zip))
    largest = max(zip_bytes + MAX_CSV_BYTES, Settings.model_fields["max_upload_bytes"].default) + MULTIPART_OVERHEAD
    assert largest <= limit <= largest + 16 * 1024**2, (limit, largest)
    events = re.search(r"location ~ \^/api/v1/live/assemblies/\[0-9\]\+/events\$ \{(.*?)\}", conf, re.S)
    assert events and "proxy_buffering off;" in events.group(1)
    from app.web.api import live

    assert any(getattr(r, "path", "") == "/api/v1/live/assemblies/{assembly_id}/events" for r in live.router.routes)
    port = env_entries(commented=False)["APEL_PORT"]
    assert f"server 127.0.0.1:{port};" in conf and "ssl_certificate " in conf


def test_janus_snippets_set_what_apel_needs() -> None:
    jdir = DEPLOY / "janus"
    core = (jdir / "janus.jcfg").read_text(encoding="utf-8")
    room = (jdir / "janus.plugin.videoroom.jcfg").read_text(encoding="utf-8")
    http = (jdir / "janus.transport.http.jcfg").read_text(encoding="utf-8")

    def setting(text: str, key: str) -> str | None:
        m = re.search(rf"^\s*{key}\s*=\s*(.+?)\s*$", text, re.M)
        return m.group(1) if m else None

    assert setting(core, "api_secret") == '"@API_SECRET@"'
    assert setting(core, "rtp_port_range") == '"@RTP_MIN@-@RTP_MAX@"'
    assert setting(core, "nat_1_1_mapping") == '"@PUBLIC_IP@"' and setting(core, "ice_enforce_list")
    assert setting(core, "admin_secret") is None   # the packaged "janusoverlord" is not left on
    assert "libjanus_videoroom.so" not in (setting(core, "disable") or "")
    assert "libjanus_websockets.so" in core
    assert setting(room, "admin_key") == '"@ADMIN_KEY@"' and setting(room, "lock_rtp_forward") == "true"
    assert setting(http, "admin_http") == "false" and setting(http, "http") == "true"
    assert setting(http, "base_path") == '"/janus"' and setting(http, "port") == "8088"
    for text in (core, room, http):
        assert text.count("{") == text.count("}")
