"""The national medical-insurance platform's interface for designated institutions.

Pharmacy and hospital software (HIS) across China speaks one interface: JSON envelopes named
by ``infno`` (《医疗保障信息平台定点医药机构接口规范》). yibao answers the messages that touch the
personal account, so that such software pointed at yibao works unchanged: sign-in (9001/9002),
person information with the balance (1101), pharmacy and outpatient settlement with their
reversals (2101–2103, 2206–2208, 2601), daily reconciliation (3201) and cumulative figures
(5206). Money moves only through the payments service and the ledger.
"""
