"""The floor of a pipe round trip with a Python child: read a line, write it back.

Run: ``python bench/micro/echo_child.py`` (standard library only, like motiad_sdk)."""

import sys


def main() -> None:
    """Echo every line of stdin to stdout, flushing each one."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        stdout.write(line)
        stdout.flush()


if __name__ == "__main__":
    main()
