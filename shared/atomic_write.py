"""Write a file whole or not at all: a reader sees the old content or the new, never half.

The data goes to a new file beside the target (same folder, so the rename never crosses
file systems), which then replaces it with one ``os.replace``. The temporary file is
created with ``O_EXCL | O_NOFOLLOW`` under a random name: a link planted where it would
be is never followed, and two writers never share one.
"""

import os
import secrets
from pathlib import Path


def write_atomically(path: Path, data: bytes | str, mode: int = 0o666, exact_mode=False) -> Path:
    """``data`` into ``path``, replacing it whole; returns ``path``.

    ``mode`` is filtered by the umask like any new file's (0o600 for secrets), unless
    ``exact_mode``: a file another user must read (Redis's config in its own container).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, mode)
    try:
        if exact_mode:
            os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb" if isinstance(data, bytes) else "w") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
