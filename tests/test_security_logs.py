"""ID numbers never appear unmasked in the log, whatever happens: sign-ins, SMS codes, staff
lookups, validation errors, crashes. The test reads everything the loggers wrote."""

from __future__ import annotations

import logging

from api_support import START, RecordingSender, add_insured, add_staff_user, bearer, client_for, login, security, staff_token
from yibao.clock import FixedClock
from yibao.security.sms import LogSmsSender
from yibao.security.staff import StaffRole


def test_id_numbers_are_masked_in_every_log_line(engine, caplog):
    caplog.set_level(logging.DEBUG)
    # SQL echo prints bound parameters; it is a debugging switch, off in every deployment.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    alice = add_insured(engine, 1)
    add_staff_user(engine, "counter1", StaffRole.AGENT)
    sec = security(FixedClock(START), RecordingSender())
    sec._sms = LogSmsSender()  # the development sender: codes go to the log
    with client_for(engine, sec) as client:
        login(client, alice)
        login(client, alice, "Wrong12345x")
        client.post("/api/v1/auth/sms-code", json={"id_number": alice.id_number})
        client.post("/api/v1/auth/login/sms", json={"id_number": alice.id_number, "code": "000000"})
        client.post("/api/v1/auth/login", json={"id_number": alice.id_number[:-1] + "0", "card_number": "X1", "password": "x"})
        agent = bearer(staff_token(client, "counter1"))
        client.post("/api/v1/staff/persons/search", headers=agent, json={"id_number": alice.id_number, "reason": "核对身份"})
        client.post("/api/v1/staff/persons/search", headers=agent, json={"id_number": alice.id_number})
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "SMS to 138****0001" in text  # the log was really captured
    assert alice.id_number[:6] + "********" + alice.id_number[-4:] in text  # masked form is what gets logged
    assert alice.id_number not in text and alice.id_number[:-1] not in text
    assert alice.phone not in text
