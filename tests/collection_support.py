"""Paying contributions online in tests: the demo policy overlay (a 2026 premium and flexible
tiers), a fixed clock inside the 2026 enrolment window, the gateway simulator delivering its
notices through the test client, and people to pay for."""

from __future__ import annotations

from datetime import date, datetime, timezone
from importlib.resources import files

from sqlalchemy import insert, select, update

from api_support import REGION, add_insured, add_resident, add_staff_user, client_for, portal_sign_in, security, token_in
from yibao.clock import FixedClock
from yibao.policy.loading import load_book
from yibao.security.staff import StaffRole
from yibao.store.models import accounts, contributions, guardianships, persons, staff_users

# 2025-11-03 10:00 in China: the demo data's window for the 2026 funding year is open.
IN_WINDOW = datetime(2025, 11, 3, 2, 0, tzinfo=timezone.utc)
DEMO_OVERLAY = str(files("yibao.demo") / "policy")


def demo_book():
    return load_book(overlays=[DEMO_OVERLAY])


class Payments:
    """One app, a browser-like client per person, and the simulator answering through the app."""

    def __init__(self, engine, data_dir, at: datetime = IN_WINDOW):
        self.engine, self.clock = engine, FixedClock(at)
        # Each test its own data directory: the simulated gateway keeps its books there.
        self.sec = security(self.clock, env="development", gateway_simulator_notices="manual", data_dir=data_dir,
                            contribution_order_minutes=10)
        self.book = demo_book()
        self.clients = {}
        self.platform = self.sec.gateway.platform
        self.platform.post = self._post_notice
        self._notice_client = self._client()

    def _client(self):
        client = client_for(self.engine, self.sec).__enter__()
        client.app.state.policy_book = self.book
        return client

    def _post_notice(self, url: str, headers: dict, body: bytes) -> tuple[int, str]:
        answer = self._notice_client.post(url.split("testserver", 1)[1], content=body, headers=headers)
        return answer.status_code, answer.text

    def as_(self, person):
        if person.person_id not in self.clients:
            client = self._client()
            assert portal_sign_in(client, person).status_code == 303
            self.clients[person.person_id] = client
        return self.clients[person.person_id]

    def form(self, person, path: str, page: str = "/portal/pay", **fields):
        client = self.as_(person)
        csrf = token_in(client.get(page).text, "csrf")
        return client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False)

    def order_premium(self, payer, person_id: int, year: int = 2026) -> str:
        answer = self.form(payer, "/portal/pay/premium", person_id=str(person_id), year=str(year))
        assert answer.status_code == 303, answer.text
        assert self.as_(payer).get(answer.headers["location"]).status_code == 200  # where the person lands
        return answer.headers["location"].rsplit("/", 1)[1]

    def pay_at_cashier(self, payer, order_no: str, action: str = "pay") -> None:
        answer = self.as_(payer).post(f"/gateway-sim/pay/{order_no}", data={"action": action}, follow_redirects=False)
        assert answer.status_code == 303, answer.text

    def deliver_all(self) -> None:
        for trade_no in self.platform.unacknowledged():
            assert self.platform.deliver(trade_no)

    def close(self):
        for client in [*self.clients.values(), self._notice_client]:
            client.__exit__(None, None, None)


def make_flexible(engine, person) -> None:
    """An employee (with a personal account) who pays as a flexible employee (灵活就业)."""
    with engine.begin() as conn:
        conn.execute(update(persons).where(persons.c.id == person.person_id).values(employment="flexible"))


def add_minor(engine, n: int, guardian) -> object:
    minor = add_resident(engine, n, birth=date(2015, 5, 1))
    add_staff_user(engine, f"agent{n}", StaffRole.AGENT, REGION)
    with engine.begin() as conn:
        staff_id = conn.execute(select(staff_users.c.id).where(staff_users.c.username == f"agent{n}")).scalar_one()
        conn.execute(insert(guardianships).values(
            minor_person_id=minor.person_id, guardian_person_id=guardian.person_id, relation="parent",
            evidence="户口簿", confirmed_by=staff_id, confirmed_at=IN_WINDOW))
    return minor


__all__ = ["Payments", "add_insured", "add_resident", "add_minor", "make_flexible", "demo_book", "IN_WINDOW",
           "accounts", "contributions"]
