"""Write a finished job's artifacts into the output folder.

Each file is written under a temporary name and renamed into place, so an
interrupted collect never leaves a half-written model behind.
"""

import json
import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def save_artifacts(store, artifact_keys: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, key in artifact_keys.items():
        path = out_dir / name
        write_atomically(path, store.get_artifact(key))
        written.append(path)
    return written


def save_metrics(metrics: dict, out_dir: Path) -> Path:
    path = out_dir / "metrics.json"
    write_atomically(path, (json.dumps(metrics, indent=2) + "\n").encode())
    return path
