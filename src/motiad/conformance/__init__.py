"""``motiad conformance``: check a child against ``protocol/SPEC.md`` from the outside.

- :mod:`.session`: one child driven by hand over its pipes; :mod:`.services`
  the broker's services it calls, served from memory;
- :mod:`.checker`: runs cases against a child command, one report line each;
- :mod:`.cases`: the cases by area, the framing and rpc ones generated from
  ``protocol/vectors``;
- :mod:`.entry`: a checker for one of our SDKs or any command, and a run.

The command line lives in the CLI; this package imports no click.
"""

from __future__ import annotations

from .checker import HANDSHAKE_S, PROFILES, Case, CaseResult, Checker, Profile
from .entry import checker_for, minimal_env, run_conformance
from .services import Services
from .session import CaseFailed, Session

__all__ = [
    "HANDSHAKE_S",
    "PROFILES",
    "Case",
    "CaseFailed",
    "CaseResult",
    "Checker",
    "Profile",
    "Services",
    "Session",
    "checker_for",
    "minimal_env",
    "run_conformance",
]
