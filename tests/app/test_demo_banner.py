"""`apel serve --demo --port P` tells the person to open the address it answers on: the banner said
port 8000 (the setting's default) whatever --port was given."""
from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.servers import apel_serve, free_port


def test_demo_banner_names_the_port_given(tmp_path: Path) -> None:
    env = {**os.environ, "APEL_DATA_DIR": str(tmp_path), "APEL_DATABASE_URL": f"sqlite:///{tmp_path / 'apel.db'}",
           "APEL_SECRET_KEY": "test-secret-key-for-demo", "APEL_PORT": "8000"}
    port = free_port()
    assert port != 8000
    log = tmp_path / "serve.log"
    with apel_serve(env, log, port, extra_args=("--demo",)) as (url, _proc):
        banner = log.read_text()
        assert "shown ONLY ONCE" in banner, banner
        assert f"Open http://127.0.0.1:{port}/ and log in." in banner, banner
        assert ":8000" not in banner, banner
        assert httpx.get(f"{url}/login").status_code == 200   # and the address is where the server answers
