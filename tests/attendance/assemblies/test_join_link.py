"""The office token as the operator receives it (issue 19): the full join link from APEL_PUBLIC_URL (else
the address the leader's request came in on), a copy button, and a QR code that a camera decodes to that
exact link; the token only ever after `#`, so no server log sees it."""
from __future__ import annotations

import base64
import html
import re
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.web.app import create_app

from .conftest import World
from .test_routes import _create, auth

PUBLIC = "https://apel.example.go.id"


def _app_client(db_url: str, settings_factory, **overrides) -> TestClient:
    return TestClient(create_app(settings_factory(db_url, **overrides), migrate=False))


def _issue_on_page(client: TestClient, world: World) -> str:
    aid = _create(client, world).json()["id"]
    assert client.post(f"/apel/{aid}/start", headers=auth(world, "leader"), follow_redirects=False).status_code == 303
    r = client.post(f"/apel/{aid}/token", headers=auth(world, "leader"),
                    data={"office_id": str(world.offices["JKT"].id)}, follow_redirects=False)
    assert r.status_code == 200, r.text
    return r.text


def _decode_qr(page: str) -> str:
    src = re.search(r'<img id="join-qr" src="data:image/png;base64,([^"]+)"', page)
    assert src, "no QR image on the page"
    png = base64.b64decode(src.group(1))
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None, "the QR is not a PNG"
    # OpenCV's plain detector misses about one QR in twenty at this size (measured on 300 random
    # tokens); a phone's scanner tries harder, and so does this: larger copies, and the ArUco-based one.
    for scale in (1, 2, 3):
        im = img if scale == 1 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        for detector in (cv2.QRCodeDetector(), getattr(cv2, "QRCodeDetectorAruco", cv2.QRCodeDetector)()):
            text = detector.detectAndDecode(im)[0]
            if text:
                return str(text)
    return ""


def _join_url(page: str) -> str:
    m = re.search(r'<input id="join-url"[^>]* value="([^"]+)"', page)
    assert m, "no join link field on the page"
    return html.unescape(m.group(1))


def test_token_page_gives_the_public_link_a_copy_button_and_its_qr(db_url: str, settings_factory,
                                                                  world: World) -> None:
    with _app_client(db_url, settings_factory, public_url=PUBLIC + "/") as client:
        page = _issue_on_page(client, world)
    url = _join_url(page)
    token = re.fullmatch(re.escape(PUBLIC) + r"/live/join\?office=JKT#token=([A-Za-z0-9_-]+)", url)
    assert token, url
    parts = urlsplit(url)
    assert "token" not in parts.query and parts.fragment == f"token={token.group(1)}"   # never sent to a server
    assert _decode_qr(page) == url                                                   # the camera reads the same link
    assert re.search(r'<button type="button"[^>]*data-copy="join-url"', page)
    assert '<script src="/static/js/copy-link.js"></script>' in page
    assert f'href="{html.escape(url)}"' in page or f'href="{url}"' in page


def test_without_a_public_url_the_link_uses_the_address_of_the_request(db_url: str, settings_factory,
                                                                       world: World) -> None:
    with _app_client(db_url, settings_factory) as client:
        page = _issue_on_page(client, world)
    url = _join_url(page)
    assert url.startswith("http://testserver/live/join?office=JKT#token="), url
    assert _decode_qr(page) == url


def test_api_answers_the_full_join_url(db_url: str, settings_factory, world: World) -> None:
    with _app_client(db_url, settings_factory, public_url=PUBLIC) as client:
        aid = _create(client, world).json()["id"]
        r = client.post(f"/api/v1/assemblies/{aid}/offices/{world.offices['JKT'].id}/token",
                        headers=auth(world, "leader"), json={"ttl_minutes": 10})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["join_url"] == PUBLIC + body["join_path"]
    assert body["join_url"].endswith(f"#token={body['token']}")


@pytest.mark.parametrize("bad", ["apel.example.go.id", "ftp://apel.example.go.id", "https://apel.example.go.id/?a=1",
                                 "https://#x"])
def test_a_wrong_public_url_is_refused_at_start_up(bad: str, settings_factory) -> None:
    with pytest.raises(ValidationError, match="APEL_PUBLIC_URL"):
        settings_factory("sqlite://", public_url=bad)
