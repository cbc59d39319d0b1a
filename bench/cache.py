"""Where built datasets are cached: ``$EHRBENCH_CACHE``, else ``~/.cache/ehrbench``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("EHRBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ehrbench"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
