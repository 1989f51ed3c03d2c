"""The 12333 phone line (IVR): a voice menu that identifies the caller by ID or card number and
phone password, then reads out the balance, this month's credit and its rule, the last three
months' contributions and the lifetime-coverage years.

- ``schemas``: the provider-neutral webhook format (call events in, actions out)
- ``signature``: how the telephony platform signs its requests (HMAC-SHA256)
- ``calls``: call state kept server-side by call id (Redis when configured, memory otherwise)
- ``flow``: the state machine (which prompt, which key, how many tries and silences)
- ``entry``: what a caller keys in for an ID or card number
- ``caller``: identity and phone password, with the lockout of web sign-in in its own scope
- ``answers``: the four read-outs, from the shared read models and policy engine, audited
- ``speech``: every prompt's wording and numbers, dates and amounts as spoken Chinese
- ``audio``: prompts synthesized with espeak-ng's Mandarin voice, cached as WAV files
- ``line``: one event in, actions out; the webhook and the ``yibao ivr`` simulator both call it
- ``cli``: the ``yibao ivr`` terminal simulator
"""
