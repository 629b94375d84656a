"""Reading bytes from disk under a size cap (plain or gzip)."""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from ..errors import MotionFormatError

MAX_BYTES = 50 * 1024 * 1024
_CHUNK = 1 << 20


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def check_size(path: Path, max_bytes: int) -> None:
    try:
        size = os.stat(path).st_size
    except OSError as e:
        raise MotionFormatError(f"cannot read {path}: {e.strerror or e}") from None
    if not path.is_file():
        raise MotionFormatError(f"{path} is not a regular file")
    if size > max_bytes:
        raise MotionFormatError(
            f"{path.name} is {_mb(size)}, over the {_mb(max_bytes)} limit for a motion file")


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's content; `.gz` files are decompressed, never past `max_bytes`."""
    path = Path(path)
    check_size(path, max_bytes)
    try:
        if path.suffix.lower() != ".gz":
            return path.read_bytes()
        # Read one byte past the cap so a gzip bomb is caught without inflating it whole.
        out, total = [], 0
        with gzip.open(path, "rb") as f:
            while total <= max_bytes:
                chunk = f.read(min(_CHUNK, max_bytes + 1 - total))
                if not chunk:
                    break
                out.append(chunk)
                total += len(chunk)
        if total > max_bytes:
            raise MotionFormatError(
                f"{path.name} decompresses to more than the {_mb(max_bytes)} limit")
        return b"".join(out)
    except (OSError, EOFError, zlib.error) as e:
        raise MotionFormatError(f"cannot read {path.name}: {e}") from None
