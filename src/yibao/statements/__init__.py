"""Account statements (对账单): one personal account over a date range, as data and as PDF.

Every channel (API, portal, kiosk, counter, the command line) calls :func:`statement_pdf`.
"""

from yibao.statements.data import Statement, StatementLine, build_statement, check_owner, validate_period
from yibao.statements.fonts import FontMissing
from yibao.statements.pdf import statement_pdf, statements_pdf

__all__ = [
    "FontMissing",
    "Statement",
    "StatementLine",
    "build_statement",
    "check_owner",
    "statement_pdf",
    "statements_pdf",
    "validate_period",
]
