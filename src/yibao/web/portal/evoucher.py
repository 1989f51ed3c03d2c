"""The e-voucher (医保电子凭证): a single-use QR code, valid for 60 seconds, shown at a pharmacy.

The page names the holder (masked name and ID number) so the cashier can see whose code it is.
With JavaScript the page asks for a fresh code shortly before the shown one expires, a few
times in a row (``AUTO_REFRESHES``: a page left open does not issue codes for ever); the
button does the same without it.
"""

from __future__ import annotations

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import Connection, select

from yibao.domain.person import mask_name
from yibao.domain.resident_id import ResidentId

from yibao.security import evoucher
from yibao.security.principal import Principal
from yibao.store.models import persons
from yibao.web.deps import get_engine, get_security
from yibao.web.portal.pages import PageRoute, check_form, current_person, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

EVOUCHER_PATH = "/portal/evoucher"


AUTO_REFRESHES = 5  # fresh codes the page asks for by itself before it waits for the button
REFRESH_BEFORE_SECONDS = 5  # how long before the code expires the page asks for the next one


@router.get(EVOUCHER_PATH)
def evoucher_page(request: Request, principal: Principal = Depends(current_person)) -> HTMLResponse:
    with get_engine(request).connect() as conn:
        context = {"voucher": None, "holder": _holder(conn, principal.person_id)}
    return render(request, "portal/evoucher.html", context, principal=principal)


@router.post(EVOUCHER_PATH)
def issue_evoucher(
    request: Request, principal: Principal = Depends(current_person), csrf: str = Form(""), auto: str = Form("0"),
) -> HTMLResponse:
    check_form(request, csrf)
    sec = get_security(request)
    now = sec.now()
    with get_engine(request).begin() as conn:
        voucher = evoucher.issue(
            conn, sec.key, person_id=principal.person_id, issued_to="person", now=now,
            ttl_seconds=sec.settings.evoucher_ttl_seconds,
        )
        holder = _holder(conn, principal.person_id)
    refreshed = int(auto) if auto.isdigit() and len(auto) <= 2 else 0
    context = {
        "voucher": voucher, "qr": qr_svg(voucher.payload), "holder": holder,
        "expires_in": max(0, int((voucher.expires_at - now).total_seconds())),
        "auto_refreshes_left": max(0, AUTO_REFRESHES - refreshed), "auto_refreshed": refreshed,
        "refresh_before": REFRESH_BEFORE_SECONDS,
    }
    return render(request, "portal/evoucher.html", context, principal=principal)


def _holder(conn: Connection, person_id: int) -> dict[str, str]:
    """Whose code it is, as a cashier may see it: masked name and masked ID number."""
    person = conn.execute(select(persons.c.name, persons.c.id_number).where(persons.c.id == person_id)).one()
    return {"name": mask_name(person.name), "id_number": ResidentId(person.id_number).masked}


def qr_svg(payload: str) -> Markup:
    """The payload as an inline SVG QR code; a quiet zone of 4 modules keeps it scannable."""
    svg = segno.make(payload, error="m").svg_inline(scale=6, border=4, omitsize=True, svgclass="qr", lineclass=None)
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="医保电子凭证二维码" ', 1))
