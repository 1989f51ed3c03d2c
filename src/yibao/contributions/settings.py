"""Service settings of contribution imports (environment, prefix ``YIBAO_``).

Limits that protect the server, set by whoever runs it; no public policy source states them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ImportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIBAO_", extra="ignore")

    # Largest contribution file the API accepts (MB). A million-row CSV is about 100 MB.
    import_max_upload_mb: int = Field(200, ge=1)
    # Address space of the worker process that reads and checks one uploaded file (MB,
    # RLIMIT_AS). Checking a million-row file holds about 1.2 GiB (docs/benchmarks.md); a file
    # that needs more fails alone, and the web server never grows by it.
    import_memory_limit_mb: int = Field(4096, ge=64)


@lru_cache
def get_import_settings() -> ImportSettings:
    return ImportSettings()
