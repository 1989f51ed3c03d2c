"""Stores tested twice, in memory and on Redis (``YIBAO_TEST_REDIS_URL``, default a local
server's database 15). With ``CI`` set an unreachable Redis fails the run instead of
skipping, like PostgreSQL: CI has Redis, so those tests must run there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

REDIS_URL = os.environ.get("YIBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def memory_or_redis(backend: str, in_memory: Callable[[], object], redis_class: type) -> Iterator[object]:
    """Yield for a fixture parametrized with ``["memory", "redis"]``; cleans the Redis keys after."""
    if backend == "memory":
        yield in_memory()
        return
    store = redis_class(REDIS_URL, prefix=f"yibao-test:{uuid.uuid4().hex}:")
    try:
        store.redis.ping()
    except Exception as error:  # noqa: BLE001 - any failure means "no server here"
        if IN_CI:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}", pytrace=False)
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    yield store
    for key in store.redis.scan_iter(store.prefix + "*"):
        store.redis.delete(key)
