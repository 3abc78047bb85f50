"""Replacing a file safely: everything mlff-ttt writes (checkpoints, model files, datasets,
adapted models, records, plots) goes through write_atomically, so a full disk or a killed
process leaves either the previous file or the complete new one, never a half-written file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Union


def write_atomically(path: Union[str, Path], write: Callable[[Path], object]) -> None:
    """Calls ``write(temporary)`` on a hidden file beside ``path`` (same folder, so the rename
    is atomic; same suffix, for writers that infer the format from it), then renames it onto
    ``path``. On any failure the temporary file is removed and the error propagates."""
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial{os.getpid()}{path.suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass


def write_text_atomically(path: Union[str, Path], text: str) -> None:
    write_atomically(path, lambda p: p.write_text(text))
