"""Withdrawing a personal-account balance (个人账户余额提取) and inheritance after a death.

A case is opened with a reason from the policy engine's list; the engine says whether the
reason is allowed in the account's region and which documents it needs (a conflicting or
unknown answer opens the case with that flag for staff). Documents are uploaded, the case
is submitted, staff approve (twice, by two people, above a threshold) or reject. Approval
pays the balance out and closes the account in one database transaction.
"""
