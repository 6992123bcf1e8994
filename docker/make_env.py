#!/usr/bin/env python3
"""Write docker/.env: the compose project's settings and a new password for each Redis user.

    python3 docker/make_env.py --data-dir /path/to/kaggle [NAME=VALUE ...]

The file gets mode 600 and holds, besides ``NAME=VALUE`` settings given as arguments
(``BASE_IMAGE=...``, ``REDIS_PORT=...``; no secrets there, they would be on a command line):

- ``COMPOSE_PROJECT_NAME`` (``catdog-queue`` unless given) and ``DATA_DIR``;
- ``CATDOG_REDIS_{ADMIN,WORKER,CLIENT,FLOWER}_PASSWORD``: the Redis users of
  ``shared/redis_acl.py``, each 48 random hex digits;
- ``FLOWER_BASIC_AUTH``: ``admin:`` and 24 random hex digits, Flower's login.

No password is printed. An existing file is left alone unless ``--force`` (new passwords:
then ``docker-compose up -d`` starts every service again with them). Python 3.9+, standard
library only, from the checkout: no virtual environment needed.
"""

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catdog_queue.shared.redis_acl import ROLES  # the checkout's root is on the path now

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def password_variable(role: str) -> str:
    return f"CATDOG_REDIS_{role.upper()}_PASSWORD"


def settings(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    values = {"COMPOSE_PROJECT_NAME": "catdog-queue", "DATA_DIR": str(data_dir)}
    values |= {password_variable(role): secrets.token_hex(24) for role in ROLES}
    values["FLOWER_BASIC_AUTH"] = f"admin:{secrets.token_hex(12)}"
    return values | extra


def parse_setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    if "\n" in value or "\r" in value:
        raise argparse.ArgumentTypeError(f"{name}: a value on one line only")
    return name, value


def write_private(path: Path, text: str, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)  # also when --force rewrites an older, wider file
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="the folder of the images")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent / ".env",
        help="default: .env beside this script (docker/.env), which Compose reads",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument("setting", nargs="*", type=parse_setting, help="NAME=VALUE")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    if not data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir}: no such folder")
    values = settings(data_dir, dict(args.setting))
    text = "# Written by docker/make_env.py; holds passwords: keep it mode 600.\n"
    text += "".join(f"{name}={value}\n" for name, value in values.items())
    try:
        write_private(args.output, text, args.force)
    except FileExistsError:
        print(f"error: {args.output} exists (--force replaces it, passwords too)", file=sys.stderr)
        return 1
    print(f"wrote {args.output} (mode 600): {', '.join(values)}; no password shown")
    return 0


if __name__ == "__main__":
    sys.exit(main())
