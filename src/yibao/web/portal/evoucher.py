"""The e-voucher (医保电子凭证): a single-use QR code, valid for 60 seconds, shown at a pharmacy."""

from __future__ import annotations

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from yibao.security import evoucher
from yibao.security.principal import Principal
from yibao.web.deps import get_engine, get_security
from yibao.web.portal.pages import PageRoute, check_form, current_person, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

EVOUCHER_PATH = "/portal/evoucher"


@router.get(EVOUCHER_PATH)
def evoucher_page(request: Request, principal: Principal = Depends(current_person)) -> HTMLResponse:
    return render(request, "portal/evoucher.html", {"voucher": None}, principal=principal)


@router.post(EVOUCHER_PATH)
def issue_evoucher(request: Request, principal: Principal = Depends(current_person), csrf: str = Form("")) -> HTMLResponse:
    check_form(request, csrf)
    sec = get_security(request)
    now = sec.now()
    with get_engine(request).begin() as conn:
        voucher = evoucher.issue(
            conn, sec.key, person_id=principal.person_id, issued_to="person", now=now,
            ttl_seconds=sec.settings.evoucher_ttl_seconds,
        )
    context = {
        "voucher": voucher, "qr": qr_svg(voucher.payload),
        "expires_in": max(0, int((voucher.expires_at - now).total_seconds())),
    }
    return render(request, "portal/evoucher.html", context, principal=principal)


def qr_svg(payload: str) -> Markup:
    """The payload as an inline SVG QR code; a quiet zone of 4 modules keeps it scannable."""
    svg = segno.make(payload, error="m").svg_inline(scale=6, border=4, omitsize=True, svgclass="qr", lineclass=None)
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="医保电子凭证二维码" ', 1))
