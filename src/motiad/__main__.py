"""``python -m motiad``: the same as the ``motiad`` command."""

from .cli import main

main()
