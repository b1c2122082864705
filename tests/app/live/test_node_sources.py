"""`apel node --source`: what each spec opens, and a spec that cannot work is refused at start with
what to set, not at the first office."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.live.node_sources import FileFrameSource, make_source
from app.settings import get_settings
from attendance.errors import Invalid
from media.janus.feed_source import JanusFeedSource


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    get_settings.cache_clear()
    monkeypatch.setenv("APEL_DATA_DIR", str(tmp_path / "data"))
    for name in ("APEL_JANUS_URL", "APEL_SECRET_KEY", "APEL_MEDIA"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    get_settings.cache_clear()


def test_janus_source_needs_janus_and_the_web_nodes_secret(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(Invalid, match="APEL_JANUS_URL"):
        make_source("janus:")
    env.setenv("APEL_JANUS_URL", "http://127.0.0.1:8088/janus")
    get_settings.cache_clear()
    with pytest.raises(Invalid, match="APEL_SECRET_KEY"):   # rooms' keys would not match the web node's
        make_source("janus:")
    env.setenv("APEL_SECRET_KEY", "the-web-node-secret")
    env.setenv("APEL_JANUS_FORWARD_HOST", "10.0.0.7")
    get_settings.cache_clear()
    source = make_source("janus:", sample_fps=4.0)
    assert isinstance(source, JanusFeedSource)
    assert (source.node_address, source.sample_fps, source.room_key) == ("10.0.0.7", 4.0, "the-web-node-secret")
    other = make_source("janus:10.0.0.9")
    assert isinstance(other, JanusFeedSource) and other.node_address == "10.0.0.9"


def test_file_source_and_unknown_kinds(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clip = tmp_path / "OPD1.mp4"
    clip.write_bytes(b"\0")
    assert isinstance(make_source(f"file:{tmp_path}/{{office}}.mp4"), FileFrameSource)
    with pytest.raises(Invalid, match="janus:"):
        make_source("rtsp://camera")
    with pytest.raises(Invalid, match="not a file"):
        make_source(f"file:{tmp_path}/missing.mp4")
