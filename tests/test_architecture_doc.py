"""docs/architecture.md says where everything lives; it must not go stale: every source file of
cpp/, lammps_plugin/ and python/mlff_ttt/ is named there, and every file it names exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "python" / "mlff_ttt"


def sources():
    """(folder the page's table names it under, path relative to that folder)."""
    for folder in ("cpp", "lammps_plugin"):
        for path in sorted((ROOT / folder).iterdir()):
            if path.suffix in (".h", ".cpp", ".cu"):
                yield folder, path.name
    for path in sorted(PACKAGE.rglob("*.py")):
        yield "python/mlff_ttt", path.relative_to(PACKAGE).as_posix()


def sections():
    """The page's text per `## ...` section, keyed by the folder its heading names."""
    text = PAGE.read_text()
    parts = re.split(r"^## ", text, flags=re.M)
    return {re.search(r"`([^`]+)/`", part.splitlines()[0]).group(1): part
            for part in parts[1:] if re.search(r"`([^`]+)/`", part.splitlines()[0])}


def test_every_source_file_is_named():
    by_folder = sections()
    missing = [f"{folder}/{name}" for folder, name in sources()
               if f"`{name}`" not in by_folder[folder]]
    assert missing == [], f"docs/architecture.md does not name {missing}"


def test_every_named_file_exists():
    by_folder = sections()
    named = {(folder, name) for folder, part in by_folder.items()
             for name in re.findall(r"^\| ([^|]+) \|", part, flags=re.M)[2:]
             for name in re.findall(r"`([^`]+)`", name)}
    assert len(named) > 60
    absent = sorted(f"{folder}/{name}" for folder, name in named
                    if not (ROOT / folder / name).is_file())
    assert absent == [], f"docs/architecture.md names files that do not exist: {absent}"
