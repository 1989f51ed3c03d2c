"""The statement as an A4 PDF (ReportLab): header, balances with capital words, every transaction.

The transaction table repeats its header row on every page; every page carries the
reference-only note and "第 N 页 / 共 M 页", which needs the page count, so pages are
drawn first and their headers and footers added once the last page is known
(``_NumberedCanvas``). Several statements can share one document (``render_statements``):
each starts on a new page and is numbered on its own.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from functools import partial
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Connection

from yibao.clock import CHINA
from yibao.domain.money import Money
from yibao.statements.data import Statement, StatementLine, build_statement
from yibao.statements.fonts import cjk_font

TITLE = "医保个人账户对账单"
FOOTER_NOTE = "本对账单仅供参考，以医保经办机构记录为准"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
TOP_MARGIN = 18 * mm
BOTTOM_MARGIN = 20 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#cbd2d9")
HEADER_FILL = colors.HexColor("#e4ecf5")
STRIPE_FILL = colors.HexColor("#f5f7fa")
TOTAL_FILL = colors.HexColor("#eef2f6")

# 序号, 日期, 交易类型, 摘要 (takes what is left), 收入, 支出, 余额
_FIXED_COLUMNS = (10 * mm, 20 * mm, 24 * mm)
_AMOUNT_COLUMN = 27 * mm
COLUMN_WIDTHS = (*_FIXED_COLUMNS, CONTENT_WIDTH - sum(_FIXED_COLUMNS) - 3 * _AMOUNT_COLUMN, *(3 * (_AMOUNT_COLUMN,)))
TABLE_HEADER = ("序号", "日期", "交易类型", "摘要", "收入（元）", "支出（元）", "余额（元）")


def statement_pdf(conn: Connection, *, account_id: int, date_from: date, date_to: date, generated_at: datetime) -> bytes:
    """The statement of one personal account for ``date_from``..``date_to`` (both included), as PDF bytes."""
    statement = build_statement(conn, account_id=account_id, date_from=date_from, date_to=date_to)
    return render_statement(statement, generated_at=generated_at)


def statements_pdf(conn: Connection, *, account_ids: Sequence[int], date_from: date, date_to: date,
                   generated_at: datetime) -> bytes:
    """The statements of several personal accounts for the same period, as one PDF."""
    statements = [build_statement(conn, account_id=account_id, date_from=date_from, date_to=date_to) for account_id in account_ids]
    return render_statements(statements, generated_at=generated_at)


def render_statement(statement: Statement, *, generated_at: datetime) -> bytes:
    return render_statements([statement], generated_at=generated_at)


def render_statements(statements: Sequence[Statement], *, generated_at: datetime) -> bytes:
    """Several statements in one document (a batch printed at the counter): each starts on a new
    page, and each has its own running header and its own "第 N 页 / 共 M 页"."""
    if not statements:
        raise ValueError("no statement to render")
    font = cjk_font()
    styles = _Styles(font)
    buffer = io.BytesIO()
    first = statements[0]
    subject = f"{first.date_from.isoformat()} 至 {first.date_to.isoformat()}"
    if len(statements) > 1:
        subject += f"，共 {len(statements)} 份"
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=TOP_MARGIN, bottomMargin=BOTTOM_MARGIN,
        title=TITLE, subject=subject, author="yibao", creator="yibao",
    )
    story: list[Flowable] = []
    for number, statement in enumerate(statements):
        if number:
            story.append(PageBreak())
        story += [_StatementStart(statement), *_story(statement, generated_at, styles)]
    document.build(story, canvasmaker=partial(_NumberedCanvas, font=font))
    return buffer.getvalue()


def _story(statement: Statement, generated_at: datetime, styles: _Styles) -> list[Flowable]:
    return [
        Paragraph(TITLE, styles.title),
        _holder_table(statement, generated_at, styles),
        Spacer(0, 4 * mm),
        _balance_table(statement, styles),
        _capital_words_table(statement, styles),
        Spacer(0, 5 * mm),
        Paragraph("交易明细", styles.heading),
        _transactions_table(statement, styles),
    ]


class _StatementStart(Flowable):
    """Takes no room: tells the canvas that the page it lands on starts ``statement``."""

    def __init__(self, statement: Statement):
        super().__init__()
        self.statement = statement
        self.width = self.height = 0

    def wrap(self, _available_width, _available_height):
        return 0, 0

    def draw(self) -> None:
        self.canv.start_statement(self.statement)


class _Styles:
    def __init__(self, font: str):
        base = ParagraphStyle("base", fontName=font, fontSize=9, leading=12, textColor=INK, wordWrap="CJK")
        self.title = ParagraphStyle("title", base, fontSize=18, leading=24, alignment=TA_CENTER, spaceAfter=5 * mm)
        self.heading = ParagraphStyle("heading", base, fontSize=11, leading=15, spaceAfter=2 * mm)
        self.label = ParagraphStyle("label", base, textColor=MUTED)
        self.value = base
        self.figure = ParagraphStyle("figure", base, fontSize=12, leading=16, alignment=TA_CENTER)
        self.cell = ParagraphStyle("cell", base, fontSize=8, leading=10)
        self.note = ParagraphStyle("note", base, fontSize=7, leading=9, textColor=MUTED)
        self.font = font


def _text(value: str, style: ParagraphStyle) -> Paragraph:
    # Memos and names come from data: escape them, Paragraph reads markup.
    return Paragraph(escape(value), style)


def _holder_table(statement: Statement, generated_at: datetime, styles: _Styles) -> Table:
    region = f"{statement.region_name}（{statement.region_code}）" if statement.region_name else statement.region_code
    period = f"{statement.date_from.isoformat()} 至 {statement.date_to.isoformat()}"
    rows = [
        ("姓名", statement.person_name, "身份证号", statement.id_number_masked),
        ("参保地", region, "账户状态", statement.account_status_label),  # internal account ids are never printed
        ("对账期间", period, "生成时间", _generated_label(generated_at)),
    ]
    cells = [[_text(a, styles.label), _text(b, styles.value), _text(c, styles.label), _text(d, styles.value)] for a, b, c, d in rows]
    label, value = 18 * mm, CONTENT_WIDTH / 2 - 18 * mm
    table = Table(cells, colWidths=(label, value, label, value))
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEABOVE", (0, 0), (-1, 0), 0.8, INK),
        ("LINEBELOW", (0, -1), (-1, -1), 0.8, INK),
        ("LINEBELOW", (0, 0), (-1, -2), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    return table


def _generated_label(generated_at: datetime) -> str:
    if generated_at.tzinfo is None:  # taken as China time already
        return generated_at.strftime("%Y-%m-%d %H:%M:%S")
    return generated_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


def _figures(statement: Statement) -> tuple[tuple[str, int], ...]:
    return (
        ("期初余额", statement.opening_fen),
        ("本期收入", statement.total_in_fen),
        ("本期支出", statement.total_out_fen),
        ("期末余额", statement.closing_fen),
    )


def _balance_table(statement: Statement, styles: _Styles) -> Table:
    """Opening, in, out and closing side by side, with how many transactions went in and out."""
    counts = {"本期收入": _count_in(statement), "本期支出": _count_out(statement)}
    centered = ParagraphStyle("centered-label", styles.label, alignment=TA_CENTER)
    labels = [f"{label}（{counts[label]} 笔）" if label in counts else label for label, _ in _figures(statement)]
    rows = [
        [_text(label, centered) for label in labels],
        [_text(Money(fen).format(), styles.figure) for _, fen in _figures(statement)],
    ]
    table = Table(rows, colWidths=(CONTENT_WIDTH / 4,) * 4)
    table.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 0.6, RULE),
        ("LINEBEFORE", (1, 0), (-1, -1), 0.3, RULE),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    return table


def _capital_words_table(statement: Statement, styles: _Styles) -> Table:
    """The same four amounts in capital words (大写), two per row: the words can be ~20 characters."""
    figures = _figures(statement)
    rows = [
        [
            _text(f"{first}（大写）", styles.label), _text(Money(first_fen).capital_words(), styles.value),
            _text(f"{second}（大写）", styles.label), _text(Money(second_fen).capital_words(), styles.value),
        ]
        for (first, first_fen), (second, second_fen) in (figures[:2], figures[2:])
    ]
    label, words = 31 * mm, CONTENT_WIDTH / 2 - 31 * mm
    table = Table(rows, colWidths=(label, words, label, words))
    table.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 0.6, RULE),
        ("LINEBELOW", (0, 0), (-1, 0), 0.3, RULE),
        ("LINEBEFORE", (2, 0), (2, -1), 0.3, RULE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    return table


def _count_in(statement: Statement) -> int:
    return sum(1 for line in statement.lines if line.in_fen)


def _count_out(statement: Statement) -> int:
    return sum(1 for line in statement.lines if line.out_fen)


def _transactions_table(statement: Statement, styles: _Styles) -> Table:
    header = [_text(title, styles.cell) for title in TABLE_HEADER]
    for cell in header[4:]:
        cell.style = ParagraphStyle("amount-title", styles.cell, alignment=TA_RIGHT)
    body = [_line_row(number, line, styles) for number, line in enumerate(statement.lines, start=1)]
    if not body:
        body = [[Paragraph("本期无交易", ParagraphStyle("nothing", styles.cell, alignment=TA_CENTER)), "", "", "", "", "", ""]]
    total = [
        _text(f"本期合计（共 {statement.count} 笔）", styles.cell), "", "", "",
        _yuan(statement.total_in_fen), _yuan(statement.total_out_fen), _yuan(statement.closing_fen),
    ]
    table = Table([header, *body, total], colWidths=COLUMN_WIDTHS, repeatRows=1)
    table.setStyle(_transaction_style(styles.font, rows=len(body), empty=not statement.lines))
    return table


def _line_row(number: int, line: StatementLine, styles: _Styles) -> list:
    memo = escape(line.memo)
    if line.reference:
        memo += f'<br/><font color="{MUTED.hexval()}" size="7">单号 {escape(line.reference)}</font>'
    return [
        str(number), line.on.isoformat(), _text(line.kind_label, styles.cell), Paragraph(memo, styles.cell),
        _yuan(line.in_fen) if line.in_fen else "", _yuan(line.out_fen) if line.out_fen else "", _yuan(line.balance_fen),
    ]


def _transaction_style(font: str, *, rows: int, empty: bool) -> TableStyle:
    last = rows + 1  # the totals row
    commands = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (4, 0), (-1, -1), "RIGHT"),
        ("ALIGN", (0, 1), (0, -1), "RIGHT"),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK),
        ("LINEBELOW", (0, 1), (-1, -2), 0.25, RULE),
        ("SPAN", (0, last), (3, last)),
        ("BACKGROUND", (0, last), (-1, last), TOTAL_FILL),
        ("LINEABOVE", (0, last), (-1, last), 0.6, INK),
        ("LINEBELOW", (0, last), (-1, last), 0.6, INK),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if empty:
        commands.append(("SPAN", (0, 1), (-1, 1)))
    commands += [("BACKGROUND", (0, row), (-1, row), STRIPE_FILL) for row in range(2, last, 2)]
    return TableStyle(commands)


def _yuan(fen: int) -> str:
    return Money(fen).format().removesuffix("元")


def _running_header(canvas: Canvas, statement: Statement, font: str) -> None:
    """Pages after a statement's first say whose statement they belong to."""
    canvas.saveState()
    canvas.setFont(font, 8)
    canvas.setFillColor(MUTED)
    period = f"{statement.date_from.isoformat()} 至 {statement.date_to.isoformat()}"
    canvas.drawString(MARGIN, PAGE_HEIGHT - 11 * mm, f"{TITLE}  {statement.person_name}  {statement.id_number_masked}  {period}")
    canvas.drawRightString(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 11 * mm, statement.region_name or statement.region_code)
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(MARGIN, PAGE_HEIGHT - 12.5 * mm, PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 12.5 * mm)
    canvas.restoreState()


class _NumberedCanvas(Canvas):
    """Keeps every page until the end, then draws each page's running header and footer, numbered
    within its own statement ("第 N 页 / 共 M 页"), once every statement's page count is known."""

    def __init__(self, *args, font: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._font = font
        self._pages: list[dict] = []
        self._starts: list[tuple[int, Statement]] = []  # (index of the first page, statement)

    def start_statement(self, statement: Statement) -> None:
        self._starts.append((len(self._pages), statement))

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        starts = self._starts or [(0, None)]
        ends = [start for start, _ in starts[1:]] + [len(self._pages)]
        for (first, statement), end in zip(starts, ends, strict=True):
            for index in range(first, end):
                self.__dict__.update(self._pages[index])
                if index > first and statement is not None:
                    _running_header(self, statement, self._font)
                self._draw_footer(index - first + 1, end - first)
                super().showPage()
        super().save()

    def _draw_footer(self, number: int, total: int) -> None:
        self.saveState()
        self.setStrokeColor(RULE)
        self.setLineWidth(0.5)
        self.line(MARGIN, 14 * mm, PAGE_WIDTH - MARGIN, 14 * mm)
        self.setFont(self._font, 8)
        self.setFillColor(MUTED)
        self.drawString(MARGIN, 9.5 * mm, FOOTER_NOTE)
        self.drawRightString(PAGE_WIDTH - MARGIN, 9.5 * mm, f"第 {number} 页 / 共 {total} 页")
        self.restoreState()
