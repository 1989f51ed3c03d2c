"""Designated institutions (pharmacies, hospitals): registration and their API keys.

A key is shown once when the institution is added; only its SHA-256 hash is stored.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from yibao.domain.regions import regions
from yibao.errors import InvalidInput, NotFound
from yibao.security.tokens import API_KEY_PREFIX, new_token, token_hash
from yibao.store.db import insert_unique
from yibao.store.models import institutions


class InstitutionKind(StrEnum):
    PHARMACY = "pharmacy"
    HOSPITAL = "hospital"


def add_institution(conn: Connection, *, code: str, name: str, kind: InstitutionKind, region_code: str) -> tuple[int, str]:
    """Register an institution; returns its id and its API key (shown once)."""
    code = (code or "").strip()
    if not code or len(code) > 32 or not code.isascii() or not code.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("机构编码应为1-32位字母、数字、短横线或下划线", field="code", code="institution_code_format")
    if not (name or "").strip():
        raise InvalidInput("请填写机构名称", field="name", code="name_required")
    regions().get(region_code, field="region_code")
    key = new_token(API_KEY_PREFIX)
    institution_id = insert_unique(
        conn,
        insert(institutions)
        .values(code=code, name=name.strip(), kind=kind.value, region_code=region_code, api_key_hash=token_hash(key))
        .returning(institutions.c.id),
        taken=InvalidInput("该机构编码已存在", field="code", code="institution_code_taken"),
    )
    return institution_id, key


# What a request needs of its calling institution (the national interface also its TIF generation).
CALLER_COLUMNS = (
    institutions.c.id, institutions.c.code, institutions.c.name, institutions.c.kind, institutions.c.region_code,
    institutions.c.designated, institutions.c.tif_generation,
)


def find_by_key(conn: Connection, key: str):
    return conn.execute(
        select(*CALLER_COLUMNS).where(institutions.c.api_key_hash == token_hash(key), institutions.c.active.is_(True))
    ).first()


def rotate_key(conn: Connection, institution_id: int) -> str:
    """A new API key for an institution (shown once); the old one stops working at once."""
    key = new_token(API_KEY_PREFIX)
    changed = conn.execute(
        update(institutions).where(institutions.c.id == institution_id).values(api_key_hash=token_hash(key))
    ).rowcount
    if changed != 1:
        raise NotFound("未找到该机构", field="institution", code="institution_not_found")
    return key
