"""No program text reaches a clerk: every workbench page each role can reach from the start
page, by links and GET forms (submitted with the values the page itself fills in), on a world
with open cases of each kind in two regions, some of them overdue, and a day of settlement.

The checker is the persona sweep's (``test_persona_sweep``): command-line flags, ``None``,
JSON, stack traces, Latin words outside a short allow-list, internal ids. What staff typed
themselves is data, not program text, and is taken out before the check: staff user names,
app identifiers and callback addresses (shown back to administrators as they registered them),
uploaded files' names, and files' SHA-256 checksums (which auditors compare with a file).
"""

from __future__ import annotations

import re
from datetime import timedelta

from api_support import CARD_PIN, START, security, set_card_pin
from oversight_support import ROLES, build_world, client_at, reuse_argon2_hashes  # noqa: F401 - autouse fixture
from test_persona_sweep import Sweep
from workbench_support import workbench_sign_in
from yibao.clock import FixedClock

CHECKSUM = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{16}…")  # whole (the export) or its start (the page)
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# Terms an agency clerk meets besides the person's (PDF, CSV, JPG, PNG, MB), each with its reason:
STAFF_TERMS = re.compile(
    r"SHA-256"  # the checksum a document and a contribution file are kept with (the issue asks for it)
    r"|JPEG"  # a certificate's or receipt's picture type, as scanners name it
    r"|Excel（\.?xlsx）|\.?xlsx|Excel"  # the contribution file's spreadsheet type, as employers send it
    r"|UTF-8|GB18030"  # the two text encodings a CSV file may come in, as exporting programs name them
)
# Pages each role must have reached (so that a broken link cannot make the sweep pass by finding nothing).
MUST_REACH = {
    "agent": {"/counter"},
    "supervisor": {"/counter/dashboard", "/counter/settlement"},
    "auditor": {"/counter/audit", "/counter/audit.csv", "/counter/settlement"},
    "admin": {"/counter/admin/institutions", "/counter/admin/apps", "/counter/admin/staff"},
}


class _Answer:
    """An answer whose body is what the checker should read."""

    def __init__(self, answer, text: str):
        self.text = text
        self.headers, self.status_code, self.url, self.content = answer.headers, answer.status_code, answer.url, answer.content


class WorkbenchSweep(Sweep):
    """The persona sweep's checker, reading each answer without what staff typed, and looking
    for ISO date-times as well."""

    def __init__(self, typed: list[str]):
        super().__init__()
        self.typed = sorted(typed, key=len, reverse=True)

    def check(self, who: str, url: str, answer) -> str:
        text = STAFF_TERMS.sub("", CHECKSUM.sub("", answer.text))
        for value in self.typed:
            text = text.replace(value, "")
        if "text/html" in answer.headers.get("content-type", "") or "text/csv" in answer.headers.get("content-type", ""):
            found = ISO_DATETIME.findall(text)
            if found:
                self._add(who, url, [f"ISO date-time: {found[0]!r}"])
        return super().check(who, url, _Answer(answer, text))


def test_no_program_text_on_any_workbench_page_of_any_role(engine):
    clock = FixedClock(START)
    sec = security(clock)
    with client_at(engine, sec) as setup:
        world = build_world(engine, setup)
        clock.at = START + timedelta(days=40)  # the refund and the transfer are overdue
        set_card_pin(engine, world.people["a"].person_id)
        paid = setup.post("/api/v1/institution/payments", headers={"X-Api-Key": world.pharmacy_key}, json={
            "card_number": world.people["a"].card_number, "pin": CARD_PIN, "amount_fen": 2_350, "receipt_no": "R0001",
            "idempotency_key": "sweep-1"})
        assert paid.status_code in (200, 201), paid.text
    typed = [f"{role}1" for role in ROLES] + ["agent2", "agent_sh", "health-app", "other-app", "http://127.0.0.1:9/callback",
                                                   "缴费.csv"]  # and the name of an uploaded file
    sweep = WorkbenchSweep(typed)
    for role in ROLES:
        with client_at(engine, sec) as client:
            assert workbench_sign_in(client, f"{role}1").status_code == 303
            before = set(sweep.fetched)
            sweep.fetched = set()
            sweep.crawl(f"[{role}]", client, ["/counter"], ("/counter",))
            missing = MUST_REACH[role] - sweep.fetched
            assert not missing, f"{role} did not reach {missing}"
            sweep.fetched |= before
    assert not sweep.findings, "\n".join(f"{where}: {found}" for where, found in sweep.findings.items())


def test_the_workbench_checker_still_finds_program_text_beside_typed_data():
    class Page:
        headers = {"content-type": "text/html; charset=utf-8"}
        status_code, url, content = 200, "/counter/x", b""

        def __init__(self, text):
            self.text = text

    sweep = WorkbenchSweep(["agent1"])
    assert sweep.check("[t]", "/a", Page("<p>工作人员（agent1）</p>")) and not sweep.findings
    sweep.check("[t]", "/b", Page("<p>agent1 None 2025-06-15T10:00</p>"))
    assert sweep.findings["[t] /b"] == ["ISO date-time: '2025-06-15T10:00'", "program value: 'None'", "Latin word: 'None'"]
