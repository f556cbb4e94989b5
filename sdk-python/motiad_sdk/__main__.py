"""``python -m motiad_sdk``: the child the motiad broker starts for Python steps."""

from __future__ import annotations

from motiad_sdk.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
