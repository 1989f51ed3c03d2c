"""Paying at designated pharmacies and hospitals (定点医药机构) from personal accounts.

institutions.py (the designated flag, settlement accounts), identify.py (e-voucher or card
number + service PIN), orders.py (what an institution asks, with its idempotency hash),
service.py (pay and refund), settlement.py (the daily report per institution), keys.py (the
ledger key of each row), resume.py and cli.py (``yibao payments resume``: half-written rows
finished, stale pending ones dropped).

A payment is reserved as a "pending" row in the same database transaction that identifies
the person (so a refusal there spends no voucher and changes nothing), then posted through
the ledger, then marked "posted". The ledger key is derived from the row, so a retry with the
same idempotency key completes a payment that a crash interrupted, and never posts it twice.
"""
