"""The demo's family-sharing pair (家庭共济): the holder binds the resident relative, the relative
consents, and the holder's account pays the relative's residents' premium — through the same
services a person uses, so both sides have something real to see on every channel.

The premium is paid for the latest funding year the policy data has a standard for (this
year, or last year when this year's standard is not published in the data yet), on a day
inside that year.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from sqlalchemy import Engine, select

from yibao.domain.resident_id import ResidentId
from yibao.family import bindings, premium
from yibao.policy.loading import load_book
from yibao.policy.parameters import PolicyBook
from yibao.policy.personal import RESIDENT_PREMIUM
from yibao.store.models import persons

ADULT_GAP_YEARS = 18  # a relative this much older is the holder's parent, this much younger the child
PAID_AT = time(9, 0)


def bind_family(engine: Engine, logins: list[dict], today: date, history_from: date) -> premium.PremiumPaid | None:
    """Bind the ``family_member`` login to the ``family_holder`` login and pay a premium, if both exist.

    The premium is left out when its day would fall before the history (``history_from``):
    the database has no room for postings there (PostgreSQL's monthly partitions).
    """
    by_persona = {login.get("persona"): login for login in logins}
    holder_login, member_login = by_persona.get("family_holder"), by_persona.get("family_member")
    if holder_login is None or member_login is None:
        return None  # a population too small to have both
    book = load_book()
    holder, member = _person(engine, holder_login["id_number"]), _person(engine, member_login["id_number"])
    paid_on = _premium_day(book, member.region_code, today)
    day = paid_on if paid_on is not None and paid_on >= history_from else today
    at = datetime.combine(day, PAID_AT, tzinfo=timezone.utc)
    with engine.begin() as conn:
        made = bindings.create(conn, book, holder_id=holder.id, relative=ResidentId(member.id_number),
                               relation=_relation(holder.birth_date, member.birth_date), now=at, today=day)
        bindings.consent(conn, binding_id=made.id, person_id=member.id, now=at, today=day)
    if paid_on is None or paid_on < history_from:
        return None
    return premium.pay_premium(engine, book, holder_id=holder.id, binding_id=made.id, year=day.year, today=day)


def _person(engine: Engine, id_number: str):
    with engine.connect() as conn:
        return conn.execute(
            select(persons.c.id, persons.c.id_number, persons.c.region_code, persons.c.birth_date)
            .where(persons.c.id_number == id_number)
        ).one()


def _premium_day(book: PolicyBook, region_code: str, today: date) -> date | None:
    """Today when this year's standard is in the data, else the last day of last year when that one is."""
    region = book.regions.get(region_code)
    for year, day in ((today.year, today), (today.year - 1, date(today.year - 1, 12, 31))):
        value = book.resolve(RESIDENT_PREMIUM, region, date(year, 1, 1)).value
        if value is not None and value.rule is not None:  # an "unknown" standard has no amount to pay
            return day
    return None


def _relation(holder_birth: date, member_birth: date) -> str:
    """What the member is to the holder, plausible from their ages."""
    gap = (holder_birth - member_birth).days / 365.25
    if gap >= ADULT_GAP_YEARS:
        return "parent"
    if gap <= -ADULT_GAP_YEARS:
        return "child"
    return "spouse"
