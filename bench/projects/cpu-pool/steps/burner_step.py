"""A pure-Python CPU-bound event handler (sync: it holds its interpreter, so one
child runs one at a time): about 0.4 s of arithmetic, then one line in burned.log."""

import os
from pathlib import Path
from typing import Any

config = {
    "name": "Burner",
    "type": "event",
    "subscribes": ["burn"],
    "emits": [],
    "flows": ["cpu-pool"],
}

ROUNDS = 7_000_000
"""About 0.4 s of a 2-core bench machine's core in CPython."""
LOG = Path(__file__).resolve().parents[1] / "burned.log"


def handler(input: Any, context: Any) -> None:
    total = 0
    for i in range(ROUNDS):
        total += i * i % 7
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{input.n} {os.getpid()} {total}\n".encode())
    finally:
        os.close(fd)
