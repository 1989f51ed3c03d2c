"""Uploaded documents (certificates, proofs): PDF or image, size-limited, stored with SHA-256.

The type is read from the content's first bytes ("magic bytes"), never from the file name
or a declared content type, both of which the uploader chooses. Documents live in the
database (see ``models.Document`` for why); every read re-checks the stored checksum.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.store.models import documents

# 5 MiB: a phone photo of a certificate or a scanned PDF of a few pages fits; the counter
# scans at 200-300 dpi. Larger files are refused rather than stored.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Base64 text of the largest document, with room for line breaks some encoders insert.
MAX_BASE64_CHARS = (MAX_DOCUMENT_BYTES + 2) // 3 * 4 + 4096
MAX_FILE_NAME = 100
MAX_DOC_TYPE = 40

# Media type by leading bytes. Only formats a counter can display and print safely.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class DocumentCorrupted(YibaoError):
    """The stored bytes no longer match their checksum: never served, always reported."""

    code = "document_corrupted"
    default_message = "材料内容与存档校验值不一致，可能已损坏，请联系系统管理员"
    status_code = 500


@dataclass(frozen=True)
class StoredDocument:
    id: int
    doc_type: str
    file_name: str
    media_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime


def media_type_of(content: bytes) -> str | None:
    """``application/pdf``, ``image/png`` or ``image/jpeg`` from the content, else None."""
    return next((media for magic, media in _MAGIC if content.startswith(magic)), None)


def decode_base64(text: str, *, field: str = "content_base64") -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("文件内容不是有效的 Base64 编码", field=field, code="document_encoding") from None


def checked_content(content: bytes, *, field: str = "content_base64") -> str:
    """The media type of an acceptable document; refuses empty, oversize and other types."""
    if not content:
        raise InvalidInput("文件内容为空", field=field, code="document_empty")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            f"文件过大：不能超过{MAX_DOCUMENT_BYTES // (1024 * 1024)}MB", field=field, code="document_too_large"
        )
    media_type = media_type_of(content)
    if media_type is None:
        raise InvalidInput("只接受 PDF 或图片（JPEG、PNG）文件", field=field, code="document_type")
    return media_type


def clean_file_name(name: str) -> str:
    """The last path component, without control characters, at most 100 characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    cleaned = _UNSAFE_NAME.sub("", base).strip()
    if not cleaned:
        raise InvalidInput("请填写文件名", field="file_name", code="file_name_required")
    return cleaned[-MAX_FILE_NAME:]


def store(
    conn: Connection,
    *,
    person_id: int,
    case_id: int | None,
    doc_type: str,
    file_name: str,
    content: bytes,
    uploaded_by: str,
    at: datetime,
    refund_id: int | None = None,
) -> StoredDocument:
    """Store a document of a withdrawal case (``case_id``) or of an emergency refund (``refund_id``)."""
    media_type = checked_content(content)
    name = clean_file_name(file_name)
    digest = hashlib.sha256(content).hexdigest()
    document_id = conn.execute(
        insert(documents)
        .values(
            person_id=person_id, withdrawal_case_id=case_id, emergency_refund_id=refund_id, doc_type=doc_type, file_name=name, media_type=media_type,
            size_bytes=len(content), sha256=digest, content=content, uploaded_by=uploaded_by[:64], uploaded_at=at,
        )
        .returning(documents.c.id)
    ).scalar_one()
    return StoredDocument(document_id, doc_type, name, media_type, len(content), digest, at)


_LISTED = (
    documents.c.id, documents.c.doc_type, documents.c.file_name, documents.c.media_type,
    documents.c.size_bytes, documents.c.sha256, documents.c.uploaded_at,
)


def of_case(conn: Connection, case_id: int) -> list[StoredDocument]:
    return _listed(conn, documents.c.withdrawal_case_id == case_id)


def of_refund(conn: Connection, refund_id: int) -> list[StoredDocument]:
    return _listed(conn, documents.c.emergency_refund_id == refund_id)


def by_id(conn: Connection, document_id: int) -> StoredDocument:
    """One document's description (not its bytes), e.g. the death certificate a death record names."""
    [stored] = _listed(conn, documents.c.id == document_id)
    return stored


def _listed(conn: Connection, condition) -> list[StoredDocument]:
    rows = conn.execute(select(*_LISTED).where(condition).order_by(documents.c.id)).all()
    return [StoredDocument(*row) for row in rows]


def content_of(
    conn: Connection, document_id: int, *, case_id: int | None = None, refund_id: int | None = None,
    person_id: int | None = None,
) -> tuple[StoredDocument, bytes]:
    """A document of a case, a refund or (a death certificate) a person, with its bytes,
    after checking they still match the stored SHA-256."""
    owner = (
        documents.c.withdrawal_case_id == case_id if case_id is not None
        else documents.c.emergency_refund_id == refund_id if refund_id is not None
        else documents.c.person_id == person_id
    )
    row = conn.execute(select(*_LISTED, documents.c.content).where(documents.c.id == document_id, owner)).first()
    if row is None:
        raise NotFound("未找到该材料", field="document_id", code="document_not_found")
    stored, content = StoredDocument(*row[:-1]), bytes(row[-1])
    if hashlib.sha256(content).hexdigest() != stored.sha256:
        raise DocumentCorrupted()
    return stored, content
