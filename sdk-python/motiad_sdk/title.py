"""The child's process title (SPEC ``lifecycle.title``): what ``ps`` shows for it.

The standard library has no ``setproctitle``; on Linux the title is what
``/proc/PID/cmdline`` reads, the process's argument area, whose bounds are
fields 48 and 49 (``arg_start``, ``arg_end``) of ``/proc/self/stat``. The title
is written over that area through ``/proc/self/mem`` (no ctypes, no extra
memory), padded with NULs and never past its end: the interpreter copied its
arguments at start, so ``sys.argv`` and ``sys.executable`` are untouched.
"""

from __future__ import annotations

import contextlib

ARG_START_FIELD = 48
"""``arg_start`` in ``/proc/PID/stat`` (proc(5)), counting from 1."""


def argument_area() -> tuple[int, int] | None:
    """Where the argument area is (start, end), or ``None`` without ``/proc``."""
    try:
        with open("/proc/self/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count after it.
    fields = stat[stat.rindex(b")") + 2 :].split()
    index = ARG_START_FIELD - 3
    if len(fields) <= index + 1:
        return None
    return int(fields[index]), int(fields[index + 1])


def set_title(title: str) -> bool:
    """Show ``title`` as the process's command line, cut to fit the area (the
    broker already sends one that fits). False where that cannot be done."""
    area = argument_area()
    if area is None or area[1] - area[0] < 2:
        return False
    start, end = area
    room = end - start - 1  # the last NUL stays: the kernel reads up to it
    data = title.encode()[:room]
    with contextlib.suppress(OSError), open("/proc/self/mem", "r+b", buffering=0) as memory:
        memory.seek(start)
        memory.write(data + b"\0" * (end - start - len(data)))
        return True
    return False
