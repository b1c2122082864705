"""The office join link as an operator receives it: a full address (they open it on another device, a
phone or the office laptop, where a bare path means nothing) and a QR code of the same address.

The token stays in the fragment (`#token=`): browsers never send a fragment, so the token never reaches
a server's or a proxy's access log."""
from __future__ import annotations

from urllib.parse import quote

import segno
from fastapi import Request

from app.settings import Settings


def join_path(office_code: str, token: str) -> str:
    return f"/live/join?office={quote(office_code)}#token={token}"


def public_base(request: Request, settings: Settings) -> str:
    """APEL_PUBLIC_URL when set (behind a proxy or NAT the leader's own address is not the offices'); else
    the address this request came in on, which is right when leader and offices use the same one."""
    return settings.public_url or str(request.base_url).rstrip("/")


def join_url(request: Request, settings: Settings, office_code: str, token: str) -> str:
    return public_base(request, settings) + join_path(office_code, token)


def qr_data_uri(url: str) -> str:
    """A PNG data: URI (the CSP's img-src allows data:, and no extra route would hold a token). Medium
    error correction and a generous module size so a phone reads it off a laptop screen."""
    return segno.make(url, error="m", micro=False).png_data_uri(scale=6, border=4)
