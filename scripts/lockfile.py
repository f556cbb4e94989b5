"""Compare an environment's installed packages with ``requirements.lock``.

``scripts/test`` runs this after installing: in the locked mode any difference
fails the run (the lock is stale: a dependency was added or its bounds moved
without ``scripts/lock``), in ``--latest`` mode it prints which packages moved,
so a red run says at once which release to look at.

Usage: ``python scripts/lockfile.py check|moved LOCK``, run by the interpreter
of the environment to compare. Standard library only: it runs before anything
else is known to work.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

# what pip and venv bring themselves, not what our bounds choose
_TOOLING = {"pip", "setuptools", "wheel"}
_PROJECT = "motiad"


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def read_lock(path: Path) -> dict[str, str]:
    """``name==version`` lines of the lock file, by canonical name."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise SystemExit(f"{path}: {raw!r} is not a 'name==version' pin")
        pins[_canonical(name)] = version.strip()
    return pins


def installed() -> dict[str, str]:
    """Every distribution in this interpreter's environment but the tooling and motiad."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = _canonical(dist.metadata["Name"])
        if name not in _TOOLING and name != _PROJECT:
            found[name] = dist.version
    return found


def differences(lock: dict[str, str], have: dict[str, str]) -> list[str]:
    """One line per package whose installed version is not the locked one."""
    lines = []
    for name in sorted(lock.keys() | have.keys()):
        locked, now = lock.get(name), have.get(name)
        if locked == now:
            continue
        if locked is None:
            lines.append(f"  {name} {now} (not in the lock)")
        elif now is None:
            lines.append(f"  {name} {locked} (locked, not installed)")
        else:
            lines.append(f"  {name} {locked} -> {now}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in {"check", "moved"}:
        print(__doc__, file=sys.stderr)
        return 2
    lock_path = Path(argv[2])
    moved = differences(read_lock(lock_path), installed())
    if argv[1] == "check":
        if moved:
            print(f"{lock_path} does not match what is installed:", file=sys.stderr)
            print("\n".join(moved), file=sys.stderr)
            print("refresh it with scripts/lock (see README, 'Dependencies')", file=sys.stderr)
            return 1
        return 0
    if moved:
        print(f"packages that moved since {lock_path}:")
        print("\n".join(moved))
    else:
        print(f"the newest versions the bounds allow are the locked ones ({lock_path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
