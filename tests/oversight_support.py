"""A world for the workbench's oversight tests (dashboard, settlement, audit log, administration,
the permission matrix and the program-text sweep): staff of every role in Beijing (110000),
a clerk in Shanghai (310000), and one object of each kind a workbench route names in each of
the two regions, made through the API and the domain functions, as clerks and people would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from api_support import (
    REGION,
    SAMPLE_PDF,
    STRONG_PASSWORD,
    TODAY,
    Insured,
    add_app,
    add_designated_pharmacy,
    add_insured,
    add_staff_user,
    document_body,
    payee_body,
    person_token,
    staff_headers,
)
from yibao.contributions import jobs
from yibao.domain.resident_id import ResidentId
from yibao.ledger.accounts import open_personal_account, system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.security.institutions import InstitutionKind, add_institution
from yibao.security.passwords import hash_secret
from yibao.security.passwords import hash_secret as real_hash
from yibao.security.staff import StaffRole
from yibao.store.models import credentials, institutions, persons, staff_users

OWN, OTHER = REGION, "310000"  # Beijing: every role's region; Shanghai: elsewhere
ROLES = [role.value for role in StaffRole]
EMIGRATION_DOCS = ["出国（境）定居证明", "身份证件"]


_HASHES: dict[str, str] = {}


@pytest.fixture(autouse=True)
def reuse_argon2_hashes(monkeypatch):
    """Real Argon2 hashes, each test password hashed once per run (import into a test module)."""
    import api_support
    import yibao.security.staff

    def cached_hash(plain: str) -> str:
        if plain not in _HASHES:
            _HASHES[plain] = real_hash(plain)
        return _HASHES[plain]

    for module in (api_support, yibao.security.staff):
        monkeypatch.setattr(module, "hash_secret", cached_hash)
    monkeypatch.setitem(globals(), "hash_secret", cached_hash)


@dataclass
class Objects:
    """One object of each kind a workbench route names, by path parameter name."""

    values: dict[str, object] = field(default_factory=dict)


@dataclass
class World:
    engine: Engine
    client: TestClient
    own: Objects
    other: Objects
    people: dict[str, Insured]
    staff_ids: dict[str, int]


def client_at(engine: Engine, sec) -> TestClient:
    """A test client calling from 127.0.0.1, as a workbench PC on the agency's network would
    (the audit log shows the client address; the test client's own name is no address)."""
    from yibao.web.app import create_app

    app = create_app(engine)
    app.state.security = sec
    return TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000))


def add_insured_elsewhere(engine: Engine, n: int, region: str = OTHER) -> Insured:
    """An insured person of another pooling region, with an account and a credit from its pool."""
    resident_id = ResidentId.build("310101", date(1960 + n, 5, 1), 20 + n, today=TODAY)
    card, phone = f"S{n:08d}", f"1370000{n:04d}"
    with engine.begin() as conn:
        person_id = conn.execute(
            insert(persons).values(
                id_number=resident_id.full, card_number=card, name="钱七", sex=resident_id.sex.value[0].upper(),
                birth_date=resident_id.birth_date, region_code=region, insurance_type="employee", employment="retired",
                enrolled_on=date(1995, 1, 1), phone=phone,
            ).returning(persons.c.id)
        ).scalar_one()
        account_id = open_personal_account(conn, person_id, region, date(2020, 1, 1))
        pool = system_account(conn, AccountKind.POOL, region, opened_on=date(2020, 1, 1))
        conn.execute(insert(credentials).values(person_id=person_id, kind="password", secret_hash=hash_secret(STRONG_PASSWORD)))
    Ledger(engine).transfer(kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=account_id, amount_fen=200_000,
                            idempotency_key=f"t-credit-sh-{n}", business_date=date(2025, 5, 1), memo="5月划入")
    return Insured(person_id, account_id, resident_id.full, card, STRONG_PASSWORD, phone, "钱七")


def staff_id_of(engine: Engine, username: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(staff_users.c.id).where(staff_users.c.username == username)).scalar_one()


def open_withdrawal(client: TestClient, person: Insured, *, submit: bool) -> tuple[int, int]:
    """The person applies to withdraw (emigration) and uploads the documents; the case and a document."""
    headers = person_token(client, person)
    answer = client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(person)}, headers=headers)
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["id"]
    docs = EMIGRATION_DOCS if submit else EMIGRATION_DOCS[:1]
    for doc_type in docs:
        uploaded = client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body(doc_type), headers=headers)
        assert uploaded.status_code == 201, uploaded.text
    if submit:
        assert client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=headers).status_code == 200
    mine = client.get("/api/v1/me/withdrawals", headers=headers).json()["items"]
    found = next(item for item in mine if item["id"] == case_id)
    return case_id, found["documents"][0]["id"]


def enter_refund(client: TestClient, clerk: str, person: Insured, receipt: str) -> int:
    body = document_body("急诊收费票据", SAMPLE_PDF, "票据.pdf", person_id=person.person_id, amount_fen=35_000,
                         incurred_on="2025-06-10", receipt_number=receipt, reason="参保人提交急诊垫付票据")
    body.pop("doc_type")
    answer = client.post("/api/v1/staff/transfers/emergency-refunds", json=body, headers=staff_headers(client, clerk))
    assert answer.status_code == 201, answer.text
    return answer.json()["refund_id"]


def request_transfer(client: TestClient, person: Insured, to_region: str) -> int:
    answer = client.post("/api/v1/me/transfers", json={"to_region": to_region}, headers=person_token(client, person))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def record_death(client: TestClient, clerk: str, person: Insured) -> None:
    body = document_body("死亡证明", SAMPLE_PDF, "死亡证明.pdf", person_id=person.person_id, died_on="2025-06-01",
                         certificate_number="J110105202500123", reason="家属到窗口办理")
    body.pop("doc_type")
    answer = client.post("/api/v1/staff/withdrawals/deaths", json=body, headers=staff_headers(client, clerk))
    assert answer.status_code == 201, answer.text


def queued_job(engine: Engine, clerk: str, region: str) -> int:
    job = jobs.NewJob(file_name="缴费.csv", stored_as=f"missing-{region}", size_bytes=10, sha256="0" * 64,
                      uploaded_by=staff_id_of(engine, clerk), region_code=region, create_people_in=None, import_today=TODAY)
    from api_support import START

    with engine.begin() as conn:
        return jobs.create(conn, job, START)


def file_filing(engine: Engine, person: Insured) -> int:
    """An out-of-area care filing of ``person`` (in Shenzhen), waiting for confirmation in their region."""
    from api_support import START
    from yibao.filings import service
    from yibao.policy.loading import load_book

    typed = service.FilingInput("long_term", "440300", "long_residence", TODAY)
    with engine.begin() as conn:
        return service.file(conn, load_book(), person_id=person.person_id, typed=typed, today=TODAY,
                            actor=service.Actor("person", person.person_id), now=START)


def paid_order(engine: Engine, person: Insured) -> str:
    """A contribution order paid online for ``person`` (their 2025 premium) and posted through the ledger,
    to open and print at the counter."""
    from api_support import START
    from yibao.collection.posting import post_paid
    from yibao.policy.loading import load_book
    from yibao.store.models import contribution_orders

    order_no = f"20250615100000{person.person_id:08d}"
    region_code = person_region(engine, person)
    with engine.begin() as conn:
        conn.execute(insert(contribution_orders).values(
            order_no=order_no, purpose="resident_premium", person_id=person.person_id, payer_person_id=person.person_id,
            payer_role="self", region_code=region_code, live_key="premium:2025", funding_year=2025,
            amount_fen=40_000, rule_ids=[], gateway="simulator", channel="portal", status="paid", created_at=START,
            expires_at=START, paid_at=START, trade_no=f"4200{order_no}"))
        post_paid(conn, load_book(), order_no, now=START)
    return order_no


def person_region(engine: Engine, person: Insured) -> str:
    with engine.connect() as conn:
        return conn.execute(select(persons.c.region_code).where(persons.c.id == person.person_id)).scalar_one()


def build_world(engine: Engine, client: TestClient, *, deaths: bool = True) -> World:
    """Staff of every role in Beijing, a Shanghai clerk, and one object of each kind in each region."""
    for role in StaffRole:
        add_staff_user(engine, f"{role.value}1", role, region_code=OWN)
    add_staff_user(engine, "agent2", StaffRole.AGENT, region_code=OWN)
    add_staff_user(engine, "agent_sh", StaffRole.AGENT, region_code=OTHER)
    people = {"a": add_insured(engine, 1), "a2": add_insured(engine, 2), "a3": add_insured(engine, 3),
              "b": add_insured_elsewhere(engine, 1), "b2": add_insured_elsewhere(engine, 2)}
    own_case, own_doc = open_withdrawal(client, people["a"], submit=True)
    other_case, other_doc = open_withdrawal(client, people["b"], submit=False)
    own_refund = enter_refund(client, "agent1", people["a2"], "JZ2025061000001")
    other_refund = enter_refund(client, "agent_sh", people["b2"], "JZ2025061000002")
    own_transfer = request_transfer(client, people["a3"], "120000")
    other_transfer = request_transfer(client, people["b2"], "440100")
    if deaths:
        record_death(client, "agent2", add_insured(engine, 4))
    pharmacy_key = add_designated_pharmacy(engine, "P001")
    with engine.begin() as conn:
        own_institution = conn.execute(select(institutions.c.id).where(institutions.c.code == "P001")).scalar_one()
        other_institution, _ = add_institution(conn, code="S001", name="上海某某医院", kind=InstitutionKind.HOSPITAL,
                                               region_code=OTHER)
    add_app(engine, "health-app", ["profile:read", "balance:read"])
    add_app(engine, "other-app", ["profile:read"])
    staff_ids = {name: staff_id_of(engine, name) for name in [f"{role}1" for role in ROLES] + ["agent2", "agent_sh"]}
    own = Objects({
        "case_id": own_case, "person_id": people["a"].person_id, "document_id": own_doc, "transfer_id": own_transfer,
        "refund_id": own_refund, "job_id": queued_job(engine, "agent1", OWN), "institution_id": own_institution,
        "client_id": "health-app", "staff_id": staff_ids["agent2"], "filing_id": file_filing(engine, people["a"]),
        "order_no": paid_order(engine, people["a"]),
    })
    other = Objects({
        "case_id": other_case, "person_id": people["b"].person_id, "document_id": other_doc, "transfer_id": other_transfer,
        "refund_id": other_refund, "job_id": queued_job(engine, "agent_sh", OTHER), "institution_id": other_institution,
        "client_id": None, "staff_id": staff_ids["agent_sh"],  # apps belong to no region
        "filing_id": file_filing(engine, people["b"]), "order_no": paid_order(engine, people["b"]),
    })
    world = World(engine, client, own, other, people, staff_ids)
    world.pharmacy_key = pharmacy_key
    return world
