"""Runtime settings, read from the environment (prefix ``YIBAO_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIBAO_", extra="ignore")

    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'yibao.sqlite3'}"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache
def get_settings() -> Settings:
    return Settings()


def normalise_database_url(url: str) -> str:
    """Let people write ``postgresql://`` and still get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
