"""Family sharing (家庭共济): a holder's personal account pays for bound close relatives.

relations.py (who may be bound, from the policy data), bindings.py (bind, consent, end,
list), limits.py (the yearly limit when a region sets one), premium.py (paying a member's
residents'-insurance premium), beneficiaries.py (whom a holder's transaction paid for).
The money is shared, never the card: a member always identifies with their own card or
e-voucher (see ``yibao.payments``).
"""
