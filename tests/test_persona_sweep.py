"""No program text reaches a person: every demo persona, every page they can reach, every prompt.

A demo database is built (small population), then each of the demo's sign-ins (whatever the
demo prints, so people added to the demo later are swept too) is used on every channel:

- the portal, crawled from its home page by links and GET forms (submitted with the values
  the page itself fills in), so pages added later are found without listing them here;
- the calculators, with the person's own defaults and with empty and odd inputs;
- the kiosk, signed in by card and PIN, crawled the same way;
- the counter, as the demo clerk giving a reason, opening each persona's pages;
- the phone line: every menu key of a scripted call;
- a few pages nothing links to (unknown paths, an expired session).

Each answer's visible text (tags, scripts and styles stripped; alt, title, placeholder,
aria-label and button values kept) must not contain command-line flags, ``None``/``null``/
``undefined``/``NaN``, JSON, stack traces, internal database ids or Latin words outside a
short allow-list. PDFs are checked through their extracted text.
"""

from __future__ import annotations

import io
import re
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from pypdf import PdfReader

from api_support import START, TODAY, client_for, later, security, token_in
from demo_support import reuse_argon2_hashes  # noqa: F401 - autouse fixture
from ivr_support import IVR_SECRET, Phone, keyed
from yibao.clock import FixedClock
from yibao.demo.access import add_demo_access
from yibao.demo.build import build_demo
from yibao.ivr.answers import TOPIC_BY_KEY
from yibao.ivr.flow import AGENT, BACK, REPEAT

pytestmark = pytest.mark.slow

PEOPLE = 40
SEED = 20250601
MAX_VARIANTS = 3  # pages of one path with the same query keys (paging, filters) fetched at most this often
REASON = "核对缴费记录"

# Latin words a person may meet, each with the reason it is there:
ALLOWED_LATIN = {
    "PDF",  # the statement's file type, as every bank and the national app name it
    "CSV",  # the export of account details for spreadsheets, named by its file type
    "JPG", "PNG",  # the picture types an upload takes, as a phone's gallery names its files
    "MB",  # an upload's size limit, in the unit phones and the national app show
}
# Attributes whose text a person sees or hears (screen readers read aria-label).
SPOKEN_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}
HIDDEN_ELEMENTS = {"script", "style", "template", "noscript"}
# For programs and developers, not for people: the API, its documents, health checks, files.
NOT_FOR_PEOPLE = ("/docs", "/redoc", "/openapi.json", "/health", "/ready", "/api/", "/static/")
FORBIDDEN = [
    (re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*"), "command-line flag"),
    (re.compile(r"\b(None|null|undefined|NaN|nan|True|False)\b"), "program value"),
    (re.compile(r'\{\s*"(error|detail|code|message)"'), "JSON"),
    (re.compile(r"Traceback|Exception\b|Error\b"), "stack trace"),
    # Internal ids (database row numbers) are never shown: an account or a record is named by
    # what a person knows (region, kind, date), never by "账户 97" or "编号97".
    (re.compile(r"(账户|编号|序号|ID)[ \t　]*[:：#]?[ \t　]*\d+(?![\d,.]*[ \t　]*元)"), "internal id"),
]
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


# ---------------------------------------------------------------------------- the checker


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in HIDDEN_ELEMENTS:
            self.hidden += 1
        values = dict(attrs)
        for name in SPOKEN_ATTRIBUTES:
            if values.get(name):
                self.parts.append(values[name])
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"])

    def handle_endtag(self, tag):
        if tag in HIDDEN_ELEMENTS and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return "\n".join(part.strip() for part in parser.parts if part.strip())


def program_text(text: str) -> list[str]:
    """Every piece of program text in ``text`` a person would see, with what kind it is."""
    found = [f"{kind}: {match.group(0)!r}" for pattern, kind in FORBIDDEN for match in pattern.finditer(text)]
    found += [f"Latin word: {word!r}" for word in LATIN_WORD.findall(text) if word not in ALLOWED_LATIN]
    return found


def test_the_checker_catches_each_kind_of_program_text():
    page = "<html><head><title>余额</title><style>.None{}</style></head><body><p>还差累计 @ 年</p></body></html>"
    assert program_text(visible_text(page.replace("@", "10"))) == []
    assert "program value: 'None'" in program_text(visible_text(page.replace("@", "None")))
    for shown in ["请提供缴费基数（--base）", '{"detail":"Not Found"}', "个人账户 97", "编号97", "Loading",
                  "Traceback (most recent call last)", "null", "NaN"]:
        assert program_text(visible_text(f"<p>{shown}</p>")), shown
    assert program_text(visible_text('<img alt="logo"><input placeholder="name">')) == [
        "Latin word: 'logo'", "Latin word: 'name'"
    ]
    assert program_text(visible_text('<script>var x = null;</script><a href="/x?y=None">下载PDF</a>')) == []
    assert program_text("余额 1,234.56元　账户余额 97元　身份证号 110105********123X") == []


# ---------------------------------------------------------------------------- the crawler


class _Links(HTMLParser):
    """Links and GET forms of a page; a form is submitted with the values the page filled in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._form: tuple[str, list] | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "form" and (values.get("method") or "get").lower() == "get":
            self._form = (values.get("action") or "", [])
        elif self._form is None:
            return
        elif tag == "input" and values.get("name") and values.get("type") not in ("submit", "button", "file"):
            if values.get("type") not in ("checkbox", "radio") or "checked" in values:
                self._form[1].append((values["name"], values.get("value") or ""))
        elif tag == "select" and values.get("name"):
            self._select, self._options = values["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((values.get("value", ""), "selected" in values))

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None and self._form is not None:
            chosen = [value for value, selected in self._options if selected] or [value for value, _ in self._options[:1]]
            self._form[1].append((self._select, chosen[0] if chosen else ""))
            self._select = None
        elif tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None


@dataclass
class Sweep:
    """What was fetched and what was found, over all personas and channels."""

    findings: dict[str, list[str]] = field(default_factory=dict)
    fetched: set[str] = field(default_factory=set)

    def check(self, who: str, url: str, answer) -> str:
        """Checks one answer; returns its visible text (empty for files)."""
        kind = answer.headers.get("content-type", "")
        if answer.status_code >= 500:
            self._add(who, url, [f"server error {answer.status_code}"])
            return ""
        if "application/pdf" in kind:
            text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
        elif "text/html" in kind:
            text = visible_text(answer.text)
        elif "json" in kind:
            self._add(who, url, [f"JSON to a browser: {answer.text[:80]}"])
            return ""
        else:
            text = answer.text
        self._add(who, url, program_text(text))
        return text

    def _add(self, who: str, url: str, found: list[str]) -> None:
        if found:
            self.findings.setdefault(f"{who} {url}", []).extend(found)

    def crawl(self, who: str, client, starts: list[str], prefixes: tuple[str, ...]) -> None:
        """Breadth-first over the pages reachable from ``starts`` without leaving ``prefixes``."""
        queue, seen, variants = deque(starts), set(), {}
        while queue:
            url = queue.popleft()
            parts = urlsplit(url)
            shape = (parts.path, tuple(sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})))
            if url in seen or variants.get(shape, 0) >= MAX_VARIANTS:
                continue
            seen.add(url)
            variants[shape] = variants.get(shape, 0) + 1
            answer = client.get(url, follow_redirects=True)
            self.fetched.add(urlsplit(str(answer.url)).path)
            self.check(who, url, answer)
            if "text/html" not in answer.headers.get("content-type", ""):
                continue
            here = str(answer.url)
            for target in _targets(answer.text, here):
                if target.startswith(prefixes) and not target.startswith(NOT_FOR_PEOPLE) and target not in seen:
                    queue.append(target)


def _targets(html: str, here: str) -> list[str]:
    page = _Links()
    page.feed(html)
    found = [urljoin(here, link) for link in page.links]
    for action, fields in page.forms:
        found.append(urljoin(here, action or here).split("?")[0] + "?" + urlencode(fields))
    local = []
    for url in found:
        parts = urlsplit(url)
        if parts.netloc in ("", urlsplit(here).netloc) and parts.scheme in ("", "http", "https"):
            local.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return local


# ---------------------------------------------------------------------------- the demo world


@dataclass
class Demo:
    engine: object
    clock: FixedClock
    logins: list[dict]
    clerk: tuple[str, str]

    def client(self):
        sec = security(self.clock, ivr_secret=IVR_SECRET, kiosk_demo_cards=True)
        return client_for(self.engine, sec)


@pytest.fixture
def demo(engine, tmp_path):
    summary = build_demo(engine, people=PEOPLE, seed=SEED, today=TODAY, progress=False)
    access = add_demo_access(engine, summary.logins[0]["region_code"])
    clerk = next(member for member in access.staff if member.role == "agent")
    assert len(summary.logins) >= 5, "the demo prints a sign-in for each kind of member"
    return Demo(engine, FixedClock(START), summary.logins, (clerk.username, clerk.password))


def who(login: dict) -> str:
    return f"[{login.get('status')}{' initial' if login.get('must_change_password') else ''} {login.get('name')}]"


def portal_sign_in(client, login: dict) -> None:
    page = client.get("/portal/login?method=password")
    answer = client.post("/portal/login", follow_redirects=False, data={
        "form_token": token_in(page.text, "form_token"), "id_number": login["id_number"],
        "card_number": login["card_number"], "password": login["password"],
    })
    assert answer.status_code == 303, (who(login), answer.text[:300])


ODD_CALCULATOR_INPUTS = [
    "/calc/credit?region=",
    "/calc/credit?region=110000&birth=&on=&insurance=&status=&base=&avg_pension=",
    "/calc/credit?region=%E7%81%AB%E6%98%9F&birth=1990-02-30&on=2025-13-01&insurance=1&status=2&base=-5&avg_pension=%EF%BC%93%EF%BC%95",
    "/calc/credit?region=110000&birth=1960-01-01&on=2025-06-15&insurance=employee&status=working&base=",
    "/calc/credit?region=110000&birth=1950-01-01&on=2025-06-15&insurance=employee&status=retired&avg_pension=",
    "/calc/credit?region=110000&birth=1990-01-01&on=2010-01-01&insurance=employee&status=working&base=8000",
    "/calc/lifetime?region=",
    "/calc/lifetime?region=110000&sex=&cumulative_years=&actual_years=&retire_on=&enrolled_on=&insurance=&on=",
    "/calc/lifetime?region=110000&sex=%E5%A5%B3&cumulative_years=999&actual_years=-1&retire_on=20300101&insurance=employee&on=2025-06-15",
    "/calc/lifetime?region=110000&sex=M&cumulative_years=40&actual_years=30&insurance=employee&on=2025-06-15",
    "/calc/lifetime?region=110000&sex=M&cumulative_years=5&actual_years=5&insurance=employee&on=2025-06-15",
    "/calc/withdraw?region=",
    "/calc/withdraw?region=110000&reason=&on=",
    "/calc/withdraw?region=110000&reason=emigration&on=1999-01-01",
]


def test_every_page_of_every_persona_shows_no_program_text(demo):
    sweep = Sweep()
    with demo.client() as anonymous:
        sweep.crawl("[anonymous]", anonymous, ["/", "/calc", "/portal/login", "/kiosk", "/counter", *ODD_CALCULATOR_INPUTS],
                    ("/calc", "/portal/login", "/"))
    for login in demo.logins:
        with demo.client() as client:
            portal_sign_in(client, login)
            sweep.crawl(who(login), client, ["/portal", "/calc", *ODD_CALCULATOR_INPUTS], ("/portal", "/calc"))
        if not login.get("phone_pin"):  # no card PIN: this person does not use the kiosk
            continue
        with demo.client() as client:
            start = client.get("/kiosk")
            answer = client.post("/kiosk/signin", follow_redirects=False, data={
                "card_number": login["card_number"], "pin": login["phone_pin"], "form_token": token_in(start.text, "form_token"),
            })
            assert answer.status_code == 303, (who(login), answer.text[:300])
            sweep.crawl(who(login) + " kiosk", client, ["/kiosk/home"], ("/kiosk/",))
    with demo.client() as counter:
        _counter_sign_in(counter, *demo.clerk)
        for login in demo.logins:
            found = _counter_search(counter, login["id_number"])
            assert found.status_code == 303, found.text[:300]
            sweep.crawl(who(login) + " counter", counter, [found.headers["location"]], ("/counter/persons/",))
        # The clerk's start page and what it opens about people; the workbench's own pages (cases,
        # files, supervision) are swept for every staff role, with the terms clerks meet, by
        # tests/test_workbench_sweep.py.
        sweep.crawl("[counter]", counter, ["/counter"], ("/counter/persons/",))
    assert {"/portal", "/portal/details", "/calc/credit", "/kiosk/home", "/kiosk/details"} <= sweep.fetched
    assert not sweep.findings, _report(sweep.findings)


def test_expired_sessions_and_refusals_show_no_program_text(demo):
    sweep = Sweep()
    login = next(each for each in demo.logins if not each.get("must_change_password"))
    with demo.client() as client:
        portal_sign_in(client, login)
        later(demo.clock, hours=2)
        sweep.crawl("[expired portal]", client, ["/portal", "/portal/details", "/portal/settings"], ("/portal",))
    with demo.client() as client:
        sweep.crawl("[no card]", client, ["/kiosk/home", "/kiosk/details"], ("/kiosk",))
        sweep.crawl("[no clerk]", client, ["/counter/persons/1"], ("/counter",))
    assert not sweep.findings, _report(sweep.findings)


def test_unknown_browser_paths_get_a_chinese_page(engine):
    sweep = Sweep()
    with client_for(engine, security(FixedClock(START))) as client:
        for url in ["/portal/no-such-page", "/calc/no-such-calculator", "/kiosk/no-such-page", "/no-such-page"]:
            sweep.check("[anyone]", url, client.get(url, headers={"accept": "text/html"}))
    assert not sweep.findings, _report(sweep.findings)


def _counter_sign_in(client, username: str, password: str) -> None:
    page = client.get("/counter")
    answer = client.post("/counter/login", follow_redirects=False, data={
        "username": username, "password": password, "form_token": token_in(page.text, "form_token"),
    })
    assert answer.status_code == 303, answer.text[:300]


def _counter_search(client, id_number: str):
    csrf = token_in(client.get("/counter").text, "csrf")
    return client.post("/counter/search", follow_redirects=False, data={
        "csrf": csrf, "key_kind": "id_number", "key": id_number, "reason_choice": REASON, "reason_other": "",
    })


# ---------------------------------------------------------------------------- the phone line


def test_every_phone_prompt_of_every_persona_is_plain_chinese(demo):
    findings: dict[str, list[str]] = {}
    keys = [*TOPIC_BY_KEY, REPEAT, BACK, "7", *TOPIC_BY_KEY, AGENT]
    with demo.client() as client:
        phone = Phone(client)
        for n, login in enumerate(each for each in demo.logins if each.get("phone_pin")):
            call = phone.call(f"sweep-{n}")
            call.press(keyed(login["id_number"]))
            call.press(login["phone_pin"])
            for key in keys:
                if call.ended:
                    break
                call.press(key)
                if call.gather is None or call.gather.get("max_digits", 1) > 1:  # back at the identity prompt
                    break
            for prompt in call.transcript:
                found = program_text(prompt)
                if found:
                    findings.setdefault(f"{who(login)} {prompt[:40]}", []).extend(found)
            assert len(call.transcript) > len(TOPIC_BY_KEY), who(login)
    assert not findings, _report(findings)


def _report(findings: dict[str, list[str]]) -> str:
    lines = [f"{where}: {'; '.join(sorted(set(found)))}" for where, found in sorted(findings.items())]
    return "program text shown to a person:\n" + "\n".join(lines)

