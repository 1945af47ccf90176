"""Server secrets: from settings, or made once into the data folder and kept there."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_BYTES = 32


def load_or_create(configured: bytes | None, data_dir: Path, name: str) -> bytes:
    """The configured secret, else the one in `data_dir/name`, made on first use (mode 0600).

    Several API processes on several machines must share the secret: set it in settings
    there (`TEXTGATE_PEPPER`, `TEXTGATE_CODE_KEY`)."""
    if configured is not None:
        return configured
    path = data_dir / name
    if path.exists():
        raw = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(raw) < SECRET_BYTES:
            raise ValueError(f"{path} holds a secret shorter than {SECRET_BYTES} bytes")
        return raw
    data_dir.mkdir(parents=True, exist_ok=True)
    raw = secrets.token_bytes(SECRET_BYTES)
    # O_EXCL: when two processes start at once, one writes and the other reads its secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create(None, data_dir, name)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(raw.hex() + "\n")
    return raw
