"""Files, safely.

* Replacing a file: everything mlff-ttt writes (checkpoints, model files, datasets, adapted
  models, records, plots) goes through write_atomically, so a full disk or a killed process
  leaves either the previous file or the complete new one, never a half-written file.
* Checking an output before the work: the command line calls check_output on every path it
  will write, so a mistyped or unwritable output fails at once, not after minutes of work.
* Reading a pickled file from someone else: load_plain_torch_file unpickles only tensors and
  plain values, so opening a checkpoint or an optimizer state cannot run code.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Union


def write_atomically(path: Union[str, Path], write: Callable[[Path], object]) -> None:
    """Calls ``write(temporary)`` on a hidden file beside ``path`` (same folder, so the rename
    is atomic; same suffix, for writers that infer the format from it), then renames it onto
    ``path``. On any failure the temporary file is removed and the error propagates. Missing
    folders above ``path`` are created (what check_output allows for)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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


def check_output(path: Union[str, Path], folder: bool = False) -> None:
    """ValueError "cannot write PATH: why" unless ``path`` (a file, or with ``folder`` a
    folder to write files into) can be written. The writers create missing folders, so the
    nearest folder that exists must be one we can create files in; that is tried with a
    probe file (permission bits say nothing for root, read-only mounts or /proc)."""
    path = Path(path)
    if path.is_dir() != folder and path.exists():
        raise ValueError(f"cannot write {path}: it is a " +
                         ("file, not a folder" if folder else "folder, not a file"))
    existing = path if folder else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot write {path}: {existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".mlff-ttt-probe", dir=existing)
    except OSError as exc:
        raise ValueError(f"cannot write {path}: no file can be created in {existing} "
                         f"({exc.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def load_plain_torch_file(path: Union[str, Path], description: str) -> Any:
    """``torch.load(path, weights_only=True)``: only tensors and plain values are unpickled,
    so a file that pickles anything else (an object whose unpickling would run code) is
    refused before any of it is built. ValueError "PATH is not a readable DESCRIPTION: why"
    for that and for a damaged file."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable {description}: {_load_failure(exc)}. It "
                         "is read as tensors and plain values only, without running any code; "
                         "a file that needs more (other objects pickled into it) is "
                         "refused") from None


def _load_failure(exc: BaseException) -> str:
    """The first sentence of what torch.load says is wrong with the file. The weights-only
    unpickler's message is a dozen lines, most of them advice on loading the file unsafely;
    what the file holds follows its "WeightsUnpickler error:"."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # no terminal colour codes
    text = text.partition("WeightsUnpickler error:")[2] or text
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first.split(". ")[0].rstrip(".") or type(exc).__name__
