"""The API takes exactly what its OpenAPI document says: integer fen, JSON booleans, ISO dates,
no empty text where content is required. Anything else is 422 naming the field and changes nothing.

Pydantic's lax mode would take ``true`` or ``"100"`` or ``1e2`` for an amount, ``"yes"`` for a
boolean and a Unix timestamp (``0``) or a date-time for a date; the document says otherwise.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, insert, select

from api_support import (
    CARD_PIN,
    SAMPLE_PDF,
    START,
    TODAY,
    add_designated_pharmacy,
    add_insured,
    add_resident,
    add_staff_user,
    client_for,
    document_body,
    person_token,
    security,
    set_card_pin,
    staff_headers,
)
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole
from yibao.store.models import (
    accounts,
    audit_log,
    death_records,
    emergency_refunds,
    family_bindings,
    institution_payments,
    institution_refunds,
    ledger_transactions,
)

BAD = "__BAD__"
BAD_FEN = ["true", '"100"', "1e2", "100.0", "null"]
BAD_YEAR = ["true", '"2025"', "2025.0", "2.025e3"]
BAD_ID = ["true", '"1"', "1.0"]
BAD_BOOL = ['"yes"', '"true"', "1", "0"]
BAD_DATE = ["0", "1749945600", '"2025-06-15T00:00:00"', '"20250615"', '"2025-W24-7"', "true"]
COUNTED = (ledger_transactions, institution_payments, institution_refunds, emergency_refunds, death_records, audit_log)


class World:
    def __init__(self, engine, client):
        self.engine, self.client = engine, client
        self.alice = add_insured(engine, 1)
        self.dies = add_insured(engine, 2)
        set_card_pin(engine, self.alice.person_id)
        self.pharmacy = {"X-Api-Key": add_designated_pharmacy(engine)}
        add_staff_user(engine, "agent1", StaffRole.AGENT)
        self.agent = staff_headers(client, "agent1")
        self.person = person_token(client, self.alice)
        relative = add_resident(engine, 5)
        with engine.begin() as conn:
            self.binding = conn.execute(
                insert(family_bindings).values(
                    holder_person_id=self.alice.person_id, member_person_id=relative.person_id, member_id_number=relative.id_number, relation="child",
                    status="active", created_at=START, consented_at=START, consented_by="member",
                ).returning(family_bindings.c.id)
            ).scalar_one()
        paid = self.client.post("/api/v1/institution/payments", headers=self.pharmacy, json=self.payment("R0", 500, "k0"))
        assert paid.status_code == 200, paid.text

    def payment(self, receipt: str, amount, key: str, **extra) -> dict:
        return {"receipt_no": receipt, "amount_fen": amount, "card_number": self.alice.card_number, "pin": CARD_PIN,
                "idempotency_key": key, **extra}

    def counts(self) -> tuple:
        with self.engine.connect() as conn:
            balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == self.alice.account_id)).scalar_one()
            return (balance, *(conn.execute(select(func.count()).select_from(table)).scalar_one() for table in COUNTED))

    def post_raw(self, url: str, headers: dict, body: dict, value: str):
        """``body`` as JSON with the literal ``value`` (raw JSON text, e.g. ``1e2``) where it holds BAD."""
        content = json.dumps(body, ensure_ascii=False).replace(json.dumps(BAD), value)
        return self.client.post(url, headers=headers | {"Content-Type": "application/json"}, content=content.encode())


@pytest.fixture
def world(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        yield World(engine, client)


def death_body(world: World, died_on, person_id=None) -> dict:
    body = document_body("死亡证明", SAMPLE_PDF, file_name="d.pdf", reason="家属到窗口办理继承")
    body.pop("doc_type")
    return body | {"person_id": world.dies.person_id if person_id is None else person_id, "died_on": died_on,
                   "certificate_number": "D1"}


def refund_body(world: World, amount, incurred_on="2025-06-01", person_id=None) -> dict:
    body = document_body("急诊收费票据", SAMPLE_PDF, "票据.pdf", person_id=world.alice.person_id if person_id is None else person_id,
                         amount_fen=amount, incurred_on=incurred_on, receipt_number="JZ-1", reason="参保人提交急诊垫付票据")
    body.pop("doc_type")
    return body


# Each case: where, as whom, a body with BAD where the value goes, the bad values, a good value, the field.
CASES = {
    "payment amount": ("/api/v1/institution/payments", "pharmacy", lambda w: w.payment("R1", BAD, "k1"), BAD_FEN, "300",
                       "amount_fen"),
    "refund amount": ("/api/v1/institution/refunds", "pharmacy",
                      lambda w: {"receipt_no": "R0", "amount_fen": BAD, "idempotency_key": "k2"}, BAD_FEN, "100", "amount_fen"),
    "emergency refund amount": ("/api/v1/staff/transfers/emergency-refunds", "agent", lambda w: refund_body(w, BAD),
                                BAD_FEN, "2000", "amount_fen"),
    "family premium year": (None, "person", lambda w: {"year": BAD}, BAD_YEAR, "2025", "year"),
    "partial payment flag": ("/api/v1/institution/payments", "pharmacy",
                             lambda w: w.payment("R3", 200, "k3", allow_partial=BAD), BAD_BOOL, "false", "allow_partial"),
    "emergency refund person": ("/api/v1/staff/transfers/emergency-refunds", "agent",
                                lambda w: refund_body(w, 2000, person_id=BAD), BAD_ID, None, "person_id"),
    "date of death": ("/api/v1/staff/withdrawals/deaths", "agent", lambda w: death_body(w, BAD), BAD_DATE, '"2025-06-01"',
                      "died_on"),
    "date a cost was incurred": ("/api/v1/staff/transfers/emergency-refunds", "agent",
                                 lambda w: refund_body(w, 2000, incurred_on=BAD), BAD_DATE, None, "incurred_on"),
}


@pytest.mark.parametrize("case", CASES)
def test_lax_forms_of_numbers_booleans_and_dates_are_refused_and_change_nothing(world, case):
    url, caller, body, bad_values, good, field = CASES[case]
    url = url or f"/api/v1/me/family/{world.binding}/premium"
    headers = {"pharmacy": world.pharmacy, "agent": world.agent, "person": world.person}[caller]
    before = world.counts()
    for value in bad_values:
        answer = world.post_raw(url, headers, body(world), value)
        assert answer.status_code == 422, (value, answer.text)
        assert answer.json()["error"]["field"] == field, value
    assert world.counts() == before
    if good is not None:  # the same request in the documented form goes through
        answer = world.post_raw(url, headers, body(world), good)
        assert answer.status_code in (200, 201), answer.text


QUERY_DATES = {
    "settlement": ("/api/v1/institution/settlement", "pharmacy", "date", {}),
    "my details": ("/api/v1/me/details", "person", "date_from", {}),
    "my contributions": ("/api/v1/me/contributions", "person", "month_to", {}),
    "my credit": ("/api/v1/me/policy/credit", "person", "month", {}),
    "my statement": ("/api/v1/me/statement", "person", "date_to", {"date_from": "2025-01-01"}),
}


@pytest.mark.parametrize("case", QUERY_DATES)
def test_query_dates_are_iso_dates_only(world, case):
    url, caller, name, others = QUERY_DATES[case]
    headers = {"pharmacy": world.pharmacy, "person": world.person}[caller]
    params = others | ({"account_id": world.alice.account_id} if "statement" in url else {})
    for value in ("0", "1749945600", "2025-06-15T00:00:00", "20250615", "2025-W24-7", "2025-06-15T00:00:00Z"):
        answer = world.client.get(url, headers=headers, params=params | {name: value})
        assert answer.status_code == 422, (value, answer.text)
        assert answer.json()["error"]["field"] == name and "YYYY-MM-DD" in answer.json()["error"]["message"]
    assert world.client.get(url, headers=headers, params=params | {name: "2025-06-15"}).status_code == 200


def test_empty_text_is_refused_where_content_is_required(world):
    empty = {
        "/api/v1/auth/login": {"id_number": "", "card_number": "x", "password": "x"},
        "/api/v1/auth/sms-code": {"id_number": ""},
        "/api/v1/institution/balance-check": {"payload": ""},
    }
    headers = {"/api/v1/institution/balance-check": world.pharmacy}
    for url, body in empty.items():
        answer = world.client.post(url, json=body, headers=headers.get(url, {}))
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "too_short", url
    receipt = world.client.post("/api/v1/institution/payments", headers=world.pharmacy, json=world.payment("", 100, "k9"))
    assert receipt.status_code == 422 and receipt.json()["error"]["field"] == "receipt_no"


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _required_strings(document: dict, schema: dict, path: str):
    """(path, schema) of every required string property of a request body, nested models included."""
    schema = _resolve(document, schema)
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(document, prop)
        if prop.get("type") == "array":
            yield from _required_strings(document, prop["items"], f"{path}.{name}[]")
        elif "properties" in prop:
            yield from _required_strings(document, prop, f"{path}.{name}")
        elif name in schema.get("required", ()) and prop.get("type") == "string" and "enum" not in prop:
            yield f"{path}.{name}", prop


def test_the_document_says_what_the_server_enforces(world):
    """Required text has a minimum length; amounts, ids and years are integers with bounds; dates are strings."""
    document = world.client.get("/openapi.json").json()
    lax, seen = [], 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                for where, prop in _required_strings(document, content["schema"], f"{method.upper()} {path}"):
                    seen += 1
                    if prop.get("minLength", 0) < 1 and prop.get("format") != "date":
                        lax.append(where)
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if parameter.get("required") and schema.get("type") == "string" and not schema.get("format"):
                    seen += 1
                    if schema.get("minLength", 0) < 1 and "pattern" not in schema and "enum" not in schema:
                        lax.append(f"{method.upper()} {path} {parameter['in']} {parameter['name']}")
    assert seen > 20
    assert lax == [], "\n".join(lax)
    assert date(2025, 6, 15) == TODAY
