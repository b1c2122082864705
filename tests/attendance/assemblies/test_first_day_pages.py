"""Small things people notice on their first day (issue 19): a favicon, no lowercase table header, the
office page's "Keluar" drawn as a button, and a long warning drawn as a note rather than a pill-shaped
badge (which turns into an oval around wrapped text)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient

from .conftest import World
from .test_routes import _create, auth, client  # noqa: F401 - the fixture


def test_every_page_links_a_favicon_that_is_served(client: TestClient) -> None:  # noqa: F811
    page = client.get("/login").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(icon.content).tag == "{http://www.w3.org/2000/svg}svg"


def test_table_headers_start_with_a_capital(client: TestClient, world: World) -> None:  # noqa: F811
    aid = _create(client, world).json()["id"]
    page = client.get(f"/apel/{aid}", headers=auth(world, "leader")).text
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", page, re.S)]
    assert "Bingkai" in headers
    assert not [h for h in headers if h and h[0].islower()], headers


def test_office_page_leave_is_a_button_like_the_others(client: TestClient, world: World) -> None:  # noqa: F811
    page = client.get("/live/join", headers=auth(world, "operator")).text
    leave = re.search(r'<button class="([^"]*)" id="leave"', page)
    assert leave and "btn-secondary" in leave.group(1).split() and "btn-ghost" not in leave.group(1).split()


def test_the_rows_warning_is_a_note_not_a_badge(client: TestClient, world: World, factory) -> None:  # noqa: F811
    with factory() as s:
        from attendance.models import Office

        office = s.get(Office, world.offices["JKT"].id)
        office.min_distance_m, office.row_lines_m = 1.0, [3.0, 4.0]   # 1 m apart: at the limit
        s.commit()
    page = client.get("/offices", headers=auth(world, "hr")).text
    warning = re.search(r'<small class="([^"]*)">([^<]*3 m[^<]*4 m[^<]*)</small>', page)
    assert warning, "no rows-at-the-limit warning on the offices page"
    assert "note-warn" in warning.group(1) and "badge" not in warning.group(1)
