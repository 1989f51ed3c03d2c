"""Out-of-area care filing (异地就医备案): a person's filing to be treated in another pooling
region, long-term (valid until cancelled) or temporary (for at least the months the policy data
gives), confirmed by staff where the region's data requires it.

``rules`` reads the policy data (kinds, reasons, documents, confirmation); ``service`` files,
changes, cancels and decides filings and answers whether one is in force on a day.
"""
