"""Policy engine: regional, dated rules as data files, answered with their sources.

See parameters.py (dated values and inheritance), schema.py (the file format), the
question modules (credit, lifetime, withdrawal, continuity, channels), vectorized.py (the
monthly batch) and service.py (the one entry the CLI, the API and the case files share).
"""
