"""Builders for API tests: two insured people (A and B) with accounts, history and sign-ins,
staff, an institution, an app, and a test client whose clock the test can move."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from yibao.clock import FixedClock
from yibao.config import Settings
from yibao.domain.resident_id import ResidentId
from yibao.ledger.accounts import open_personal_account, system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.security.context import Security
from yibao.security.counters import MemoryCounters
from yibao.security.institutions import InstitutionKind, add_institution
from yibao.security.oauth import add_client
from yibao.security.passwords import hash_secret
from yibao.security.staff import StaffRole, add_staff
from yibao.store.models import contributions, credentials, persons
from yibao.web.app import create_app

REGION = "110000"
TODAY = date(2025, 6, 15)
START = datetime(2025, 6, 15, 2, 0, tzinfo=timezone.utc)
# Uploaded files wait here for their import job (the data directory), never in the checkout.
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="yibao-test-data-"))
atexit.register(shutil.rmtree, TEST_DATA_DIR, ignore_errors=True)
TEST_KEY = "k" * 40  # a test-only key; real deployments set YIBAO_SECRET_KEY or get a generated one
STAFF_PASSWORD = "Counter2025x"
STRONG_PASSWORD = "Yb83626471q"
NEW_PASSWORD = "Better2025pw"


@dataclass
class Insured:
    person_id: int
    account_id: int
    id_number: str
    card_number: str
    password: str
    phone: str
    name: str


@dataclass
class RecordingSender:
    """An SMS sender for tests: keeps what it would have sent."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self) -> str:
        return "".join(char for char in self.sent[-1][1].split("验证码为")[1][:6])


def settings(**overrides) -> Settings:
    values = {"secret_key": TEST_KEY, "rate_limit_per_minute": 0, "data_dir": TEST_DATA_DIR} | overrides
    return Settings(**values)


def security(clock: FixedClock, sender: RecordingSender | None = None, **overrides) -> Security:
    return Security(settings(**overrides), clock=clock, counters=MemoryCounters(clock), sms=sender or RecordingSender())


def client_for(engine: Engine, sec: Security, base_url: str = "https://testserver") -> TestClient:
    app = create_app(engine)
    app.state.security = sec
    return TestClient(app, base_url=base_url)


def add_insured(engine: Engine, n: int, *, password: str = STRONG_PASSWORD, must_change: bool = False, balance_fen: int = 123_456) -> Insured:
    resident_id = ResidentId.build("110105", date(1950 + n, 3, 1), 10 + n, today=TODAY)
    card, phone, name = f"X{n:08d}", f"1380000{n:04d}", ["张三", "李四", "王五", "赵六"][n % 4]
    with engine.begin() as conn:
        person_id = conn.execute(
            insert(persons).values(
                id_number=resident_id.full, card_number=card, name=name, sex=resident_id.sex.value[0].upper(),
                birth_date=resident_id.birth_date, region_code=REGION, insurance_type="employee", employment="retired",
                enrolled_on=date(1995, 1, 1), phone=phone,
            ).returning(persons.c.id)
        ).scalar_one()
        account_id = open_personal_account(conn, person_id, REGION, date(2020, 1, 1))
        pool = system_account(conn, AccountKind.POOL, REGION, opened_on=date(2020, 1, 1))
        pharmacy = system_account(conn, AccountKind.INSTITUTION, REGION, suffix="P001", opened_on=date(2020, 1, 1))
        conn.execute(insert(credentials).values(person_id=person_id, kind="password", secret_hash=hash_secret(password), must_change=must_change))
        for month in (1, 2, 4):  # March is missing: a gap in the record
            conn.execute(
                insert(contributions).values(
                    person_id=person_id, month=date(2025, month, 1), insurance_type="employee", base_fen=800_000,
                    employer_rate_bp=800, individual_rate_bp=200, employer_fen=64_000, individual_fen=16_000,
                    account_fen=16_000, employer_name="某某公司", paid_on=date(2025, month, 15),
                )
            )
    ledger = Ledger(engine)
    ledger.transfer(kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=account_id, amount_fen=balance_fen + 1000,
                    idempotency_key=f"t-credit-{n}", business_date=date(2025, 5, 1), memo="5月划入")
    ledger.transfer(kind=TxKind.SPENDING, from_account=account_id, to_account=pharmacy, amount_fen=1000,
                    idempotency_key=f"t-spend-{n}", business_date=date(2025, 5, 20), memo="药店购药")
    return Insured(person_id, account_id, resident_id.full, card, password, phone, name)


def add_staff_user(engine: Engine, username: str, role: StaffRole, region_code: str | None = None) -> None:
    with engine.begin() as conn:
        add_staff(conn, username=username, name="工作人员", role=role, password=STAFF_PASSWORD, region_code=region_code)


def add_pharmacy(engine: Engine, code: str = "P001") -> str:
    with engine.begin() as conn:
        _, key = add_institution(conn, code=code, name="某某大药房", kind=InstitutionKind.PHARMACY, region_code=REGION)
    return key


def add_app(engine: Engine, client_id: str, scopes: list[str], redirect_uri: str = "http://127.0.0.1:9/callback") -> None:
    with engine.begin() as conn:
        add_client(conn, client_id=client_id, name="某某小程序", redirect_uris=[redirect_uri], scopes=scopes, confidential=False)


def login(client: TestClient, person: Insured, password: str | None = None):
    return client.post(
        "/api/v1/auth/login",
        json={"id_number": person.id_number, "card_number": person.card_number, "password": password or person.password},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_token(client: TestClient, username: str) -> str:
    response = client.post("/api/v1/staff/login", json={"username": username, "password": STAFF_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def later(clock: FixedClock, **delta) -> None:
    clock.at = clock.at + timedelta(**delta)


# ---------------------------------------------------------------------------- withdrawal and transfer builders

# The smallest files each check recognises by their first bytes (magic bytes).
SAMPLE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SAMPLE_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


# A bank card number that passes the Luhn check: where a person's own withdrawal is paid.
PAYEE_CARD = "6222020200112345679"


def payee_body(person: Insured) -> dict:
    """The bank account fields of a person's own withdrawal, held in their name."""
    return {"bank_name": "中国工商银行", "bank_account": PAYEE_CARD, "account_holder": person.name}


def payee_of(person: Insured):
    from yibao.withdrawals.cases import PayeeInput

    return PayeeInput(**payee_body(person))


def document_body(doc_type: str, content: bytes = SAMPLE_PDF, file_name: str = "证明.pdf", **extra) -> dict:
    """The JSON body of a document upload (content as Base64)."""
    import base64

    return {"doc_type": doc_type, "file_name": file_name, "content_base64": base64.b64encode(content).decode(), **extra}


def person_token(client: TestClient, person: Insured) -> dict[str, str]:
    response = login(client, person)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


def staff_headers(client: TestClient, username: str) -> dict[str, str]:
    return bearer(staff_token(client, username))


# ---------------------------------------------------------------------------- payment and family-sharing builders

CARD_PIN = "135790"


def add_designated_pharmacy(engine: Engine, code: str = "P001") -> str:
    """A registered pharmacy marked designated (定点): it may take personal-account payments."""
    from yibao.payments.institutions import set_designated

    key = add_pharmacy(engine, code)
    with engine.begin() as conn:
        set_designated(conn, code, True)
    return key


def set_card_pin(engine: Engine, person_id: int, pin: str = CARD_PIN) -> None:
    """The card's 6-digit service password (credential kind ``phone_pin``)."""
    with engine.begin() as conn:
        conn.execute(insert(credentials).values(person_id=person_id, kind="phone_pin", secret_hash=hash_secret(pin)))


def add_resident(engine: Engine, n: int, *, birth: date = date(1990, 7, 1), password: str = STRONG_PASSWORD) -> Insured:
    """A residents'-insurance (城乡居民医保) member: insured, able to sign in, without a personal account (account_id 0)."""
    resident_id = ResidentId.build("110105", birth, 10 + n, today=TODAY)
    card, phone, name = f"R{n:08d}", f"1390000{n:04d}", ["孙七", "周八", "吴九", "郑十"][n % 4]
    with engine.begin() as conn:
        person_id = conn.execute(
            insert(persons).values(
                id_number=resident_id.full, card_number=card, name=name, sex=resident_id.sex.value[0].upper(),
                birth_date=resident_id.birth_date, region_code=REGION, insurance_type="resident", employment="none",
                enrolled_on=date(2020, 1, 1), phone=phone,
            ).returning(persons.c.id)
        ).scalar_one()
        conn.execute(insert(credentials).values(person_id=person_id, kind="password", secret_hash=hash_secret(password)))
    return Insured(person_id, 0, resident_id.full, card, password, phone, name)


_HIDDEN_FIELD = re.compile(r'name="(csrf|form_token)" value="([^"]*)"')


def token_in(html: str, name: str) -> str:
    """The value of a page's hidden csrf or form_token field."""
    values = {field: value for field, value in _HIDDEN_FIELD.findall(html)}
    assert values.get(name), f"no {name} in the page"
    return values[name]


def kiosk_sign_in(client: TestClient, card: str, pin: str):
    """The kiosk's sign-in form as a card reader and the PIN pad submit it (the answer, not followed)."""
    start = client.get("/kiosk")
    assert start.status_code == 200
    return client.post(
        "/kiosk/signin", data={"card_number": card, "pin": pin, "form_token": token_in(start.text, "form_token")},
        follow_redirects=False,
    )


def portal_form(client: TestClient, path: str = "/portal/login?method=password", **fields):
    """The fields of a portal sign-in form as its page gives them: the page's form token plus ``fields``."""
    page = client.get(path)
    assert page.status_code == 200
    return {"form_token": token_in(page.text, "form_token"), **fields}


def portal_sign_in(client: TestClient, person: Insured, password: str | None = None, **extra):
    """The portal's password sign-in form as a browser submits it (the answer, not followed)."""
    fields = portal_form(client, id_number=person.id_number, card_number=person.card_number,
                         password=password or person.password, **extra)
    return client.post("/portal/login", data=fields, follow_redirects=False)


def reason_header(reason: str) -> dict[str, str]:
    """The reason of a staff read, as header X-Yibao-Reason carries it: percent-encoded UTF-8."""
    from urllib.parse import quote

    return {"X-Yibao-Reason": quote(reason, safe="")}
