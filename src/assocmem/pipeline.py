"""Small helpers for the thin Snakemake scripts in ``workflow/scripts/``."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def logged(log_path: str | Path) -> Iterator[None]:
    """Send stdout, stderr (progress bars included) and ``logging`` to ``log_path`` for the block."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as handle:
        logging.basicConfig(stream=handle, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            try:
                yield
            except Exception:
                logging.exception("job failed")
                raise
            finally:
                sys.stdout.flush()
