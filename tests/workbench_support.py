"""Helpers for tests of the agency workbench (``/counter``): staff signing in through the page's
own form (test client or Chromium), the session's CSRF token, and the checks every walk ends
with (the ledger clean, the audit log naming each step with its reason and channel).
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api_support import STAFF_PASSWORD, token_in
from ledger_support import ledger_clean
from yibao.store.models import audit_log

__all__ = ["ledger_clean", "workbench_sign_in", "csrf_of", "post_form", "audit_of", "browser_sign_in"]


def workbench_sign_in(client: TestClient, username: str, password: str = STAFF_PASSWORD):
    """Sign in at /counter as a staff member would (the answer, not followed: 303 on success)."""
    page = client.get("/counter")
    assert "经办人员登录" in page.text
    return client.post(
        "/counter/login", data={"username": username, "password": password, "form_token": token_in(page.text, "form_token")},
        follow_redirects=False,
    )


def csrf_of(client: TestClient, url: str = "/counter") -> str:
    """The CSRF token of the signed-in session, read off a workbench page."""
    return token_in(client.get(url).text, "csrf")


def post_form(client: TestClient, url: str, data: dict | None = None, *, files=None, csrf_from: str = "/counter"):
    """A workbench form post with the session's CSRF token (the answer, not followed)."""
    return client.post(url, data={"csrf": csrf_of(client, csrf_from), **(data or {})}, files=files, follow_redirects=False)


def audit_of(engine: Engine, action: str | None = None, person_id: int | None = None) -> list[dict]:
    """Audit rows (oldest first), optionally of one action or about one person."""
    query = select(audit_log).order_by(audit_log.c.id)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if person_id is not None:
        query = query.where(audit_log.c.subject_person_id == person_id)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def browser_sign_in(page, base: str, username: str, password: str = STAFF_PASSWORD) -> None:
    """Chromium at the workbench's sign-in page: user name, password, 登录 (then the start page)."""
    page.goto(f"{base}/counter")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/counter")
