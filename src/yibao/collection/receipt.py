"""The receipt of a paid order (缴费凭证) as an A4 PDF, for the person and at the counter.

Only a posted (or later refunded) order has a receipt: it names the insured person (ID number
masked), the year or months paid, the amount in figures and capital words, the gateway's trade
number, when benefits start and why, and the refund when there was one. Every download is
audited, like the statements.
"""

from __future__ import annotations

import io
from datetime import datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import Response
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Engine, select

from yibao.clock import CHINA
from yibao.collection.orders import Order, Status
from yibao.collection.payers import ROLE_LABELS
from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.principal import Principal
from yibao.statements.data import _region_name
from yibao.statements.fonts import cjk_font
from yibao.statements.pdf import INK, MUTED, RULE
from yibao.store.models import persons

TITLE = {"resident_premium": "城乡居民基本医疗保险个人缴费凭证", "flexible": "灵活就业人员基本医疗保险缴费凭证"}
NOTE = "本凭证由医保个人账户平台根据支付渠道的支付结果生成；缴费及待遇以医保经办机构记录为准。"
DOWNLOADED = "collection.receipt"
WIDTH = A4[0] - 30 * mm


def pdf_response(engine: Engine, sec: Security, order: Order, actor: Principal, client: str | None) -> Response:
    if order.status not in (Status.POSTED, Status.REFUNDED):
        raise InvalidInput("订单尚未缴费成功，还没有缴费凭证", field="order_no", code="receipt_not_ready")
    now = sec.now()
    with engine.begin() as conn:
        person = conn.execute(select(persons.c.name, persons.c.id_number).where(persons.c.id == order.person_id)).one()
        audit.record(conn, actor=actor, action=DOWNLOADED, at=now, subject_person_id=order.person_id, client=client,
                     detail={"order_no": order.order_no})
    content = render(order, person.name, ResidentId.parse(person.id_number).masked, now)
    name = quote(f"缴费凭证-{order.order_no}.pdf")
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"receipt-{order.order_no}.pdf\"; filename*=UTF-8''{name}",
        "Cache-Control": "no-store",
    })


def render(order: Order, name: str, id_masked: str, generated_at: datetime) -> bytes:
    font = cjk_font()
    base = ParagraphStyle("base", fontName=font, fontSize=10, leading=14, textColor=INK, wordWrap="CJK")
    title = ParagraphStyle("title", base, fontSize=17, leading=24, alignment=TA_CENTER, spaceAfter=6 * mm)
    label = ParagraphStyle("label", base, textColor=MUTED)
    note = ParagraphStyle("note", base, fontSize=8, leading=11, textColor=MUTED)
    rows = [[Paragraph(escape(key), label), Paragraph(escape(value), base)] for key, value in _lines(order, name, id_masked, generated_at)]
    table = Table(rows, colWidths=(34 * mm, WIDTH - 34 * mm))
    table.setStyle(TableStyle([
        ("LINEABOVE", (0, 0), (-1, 0), 0.8, INK), ("LINEBELOW", (0, -1), (-1, -1), 0.8, INK),
        ("LINEBELOW", (0, 0), (-1, -2), 0.3, RULE), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=20 * mm,
                                 bottomMargin=20 * mm, title=TITLE[order.purpose], author="医保个人账户平台")
    document.build([Paragraph(escape(TITLE[order.purpose]), title), table, Spacer(1, 6 * mm), Paragraph(escape(NOTE), note)])
    return buffer.getvalue()


def _lines(order: Order, name: str, id_masked: str, generated_at: datetime) -> list[tuple[str, str]]:
    region = _region_name(order.region_code) or order.region_code
    lines = [
        ("参保人", name), ("身份证号", id_masked), ("参保地", f"{region}（{order.region_code}）"),
        ("缴费项目", order.purpose_label), ("缴费期间", order.what),
        ("缴费金额", Money(order.amount_fen).format()), ("金额大写", Money(order.amount_fen).capital_words()),
        ("缴费方式", f"网上缴费（{ROLE_LABELS[order.payer_role]}）"),
        ("订单号", order.order_no), ("支付交易号", order.trade_no or "—"), ("支付时间", _china(order.paid_at)),
    ]
    if order.purpose == "resident_premium":
        lines.append(("待遇开始日期", _benefit(order)))
    if order.status is Status.REFUNDED:
        lines.append(("退款", f"已于{_china(order.refunded_at)}退款（{order.refund_reason or '本人申请'}），原路退回"))
    lines.append(("打印时间", _china(generated_at)))
    return lines


def _benefit(order: Order) -> str:
    if order.benefit_starts_on is None:
        return "资料未给出等待期规定，请向当地医保经办机构确认"
    waiting = f"（等待期{order.waiting_months}个月）" if order.waiting_months else ""
    return f"{order.benefit_starts_on.year}年{order.benefit_starts_on.month}月{order.benefit_starts_on.day}日{waiting}"


def _china(moment: datetime | None) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）" if moment else "—"
