"""The monthly credit run (``yibao credit run --month YYYY-MM``).

Every open personal account is credited at most once per month: in-service and flexible
employees with the personal-account part of that month's contribution, retirees with the
amount the policy engine gives (monthly, or the yearly amount in the month the region's
data names). Modules: month (which month), reasons (why an account is skipped),
selection (reading a chunk of accounts), evaluation (NumPy: who gets how much),
pgbinary and writing (one database transaction per chunk), report, run, cli.
"""
