"""How loaded steps are shown: the rows of ``motiad steps``, their JSON
(``motiad steps --json``, the workbench) and what the flow graph needs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from .flows import FlowStep
from .steps import Step


def step_row(step: Step) -> dict[str, Any]:
    """One step as the CLI and JSON listings show it."""
    return {
        "name": step.name,
        "type": step.type,
        "language": step.file.language,
        "trigger": step.trigger,
        "file": step.file.relative,
    }


def step_json(step: Step) -> dict[str, Any]:
    """One step with its config and the children that run it (``motiad steps
    --json``, the workbench): their name, how many, and the pids running now."""
    children = step.pool.children
    return {
        **step_row(step),
        "config": msgspec.to_builtins(step.config),
        "child": {
            "name": children[0].name,
            "workers": len(children),
            "pids": [child.pid for child in children if child.pid is not None],
        },
    }


def flow_steps(steps: Iterable[Step]) -> list[FlowStep]:
    """What the flow graph needs of each step (``motiad flows``, the workbench)."""
    return [FlowStep(s.file.relative, s.file.language, s.config) for s in steps]
