"""The server's secret key: from ``YIBAO_SECRET_KEY``, or generated once into the data directory.

Generated with O_EXCL so that several workers starting together agree on one key, and
readable by the owner only. It signs e-vouchers and keys the lockout counters.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from yibao.config import Settings

KEY_FILE = "secret_key"
KEY_BYTES = 32


def load_secret_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < 32:
            raise ValueError("YIBAO_SECRET_KEY must be at least 32 characters")
        return value.encode()
    return _key_from_file(Path(settings.data_dir) / KEY_FILE)


def _key_from_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES))
    return path.read_text().strip().encode()


def _read_when_written(path: Path) -> bytes:
    # Another worker may have created the file a moment ago and not written it yet.
    for _ in range(50):
        value = path.read_text().strip()
        if value:
            return value.encode()
        time.sleep(0.02)
    raise RuntimeError(f"secret key file {path.name} is empty")
