"""``python -m bench``: the same as ``bench/run``."""

from .bench import main

main()
