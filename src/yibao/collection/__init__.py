"""Paying contributions online (缴费): a residents' yearly premium, a flexible employee's months.

An order is created for one insured person (by themselves, a confirmed guardian, or a family
sharing holder), paid through the configured gateway (``yibao.gateway``), and posted once:
the gateway's notice is recorded first (``notices``), then the ledger, the contribution records
and the order's status are written in one transaction (``posting``). Unpaid orders expire;
a trade that does not pay a live order is refunded; a crash between the notice and the
posting is finished by ``resume`` (at server start and by ``yibao payments collect``) or by the
gateway's repeated notice.
"""
