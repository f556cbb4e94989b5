"""Cron expressions: parse and validate a step's ``cron``, and find its next tick.

Pure: no clock, no I/O. The scheduler asks :meth:`Schedule.next_after` with the
time it has. Two forms are accepted, as Motia (node-cron) accepts them:

- 5 fields: ``minute hour day-of-month month day-of-week``
- 6 fields: ``second minute hour day-of-month month day-of-week`` (seconds first)

plus the usual shorthands ``@yearly`` (``@annually``), ``@monthly``,
``@weekly``, ``@daily`` (``@midnight``) and ``@hourly``. Fields take numbers,
``*``, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists ``a,b``, month and day
names (``jan``, ``mon``), ``7`` for Sunday, and ``L``, ``W`` and ``#`` as in
Debian cron. When both day fields are restricted, a day matching either one
fires (the classic cron rule).

Evaluation uses `cronsim <https://github.com/cuu508/cronsim>`_ (Debian cron's
semantics, including its handling of DST transitions for ``zoneinfo`` times).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cronsim import CronSim, CronSimError

from .errors import MotiadError

FIELD_NAMES: Final = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
"""The six fields in order; a 5-field expression has no ``second``."""

SHORTHANDS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_VALIDATION_START: Final = datetime(2000, 1, 1)
"""A fixed start for the "does it ever fire" check, so parsing stays pure and
deterministic. cronsim looks 50 years ahead, longer than any cron pattern's cycle
(there is no year field), so a schedule that never fires from here never fires."""

_BAD_FIELD = re.compile(r"^Bad (?P<field>[a-z-]+)$")


class CronError(MotiadError):
    """A cron expression that cannot be used. ``message`` names the problem; the
    caller knows the file and the field and raises
    ``ConfigError(source, exc.message, field="config.cron")``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed, valid cron expression."""

    expression: str
    """The expression as written."""
    fields: tuple[str, ...]
    """Always six fields, seconds first (``0`` when the expression had five)."""

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """Validate ``expression``; raise :class:`CronError` naming the bad field."""
        text = expression.strip()
        if not text:
            raise CronError("is empty; expected a cron expression such as '0 * * * *'")
        if text.startswith("@"):
            expanded = SHORTHANDS.get(text.lower())
            if expanded is None:
                known = ", ".join(SHORTHANDS)
                raise CronError(f"unknown shorthand {text!r}; expected one of {known}")
            text = expanded
        parts = text.split()
        if len(parts) not in (5, 6):
            raise CronError(
                f"{expression!r} has {len(parts)} fields; expected 5 (minute hour "
                "day-of-month month day-of-week) or 6 with seconds first"
            )
        fields = tuple(["0", *parts] if len(parts) == 5 else parts)
        try:
            ticks = CronSim(" ".join(fields), _VALIDATION_START)
        except CronSimError as exc:
            raise CronError(_explain(expression, fields, str(exc))) from None
        try:
            next(ticks)
        except StopIteration:
            raise CronError(f"{expression!r} never fires (no date matches it)") from None
        return cls(expression, fields)

    def next_after(self, when: datetime) -> datetime:
        """The first time strictly after ``when`` that the schedule fires.

        The result has ``when``'s timezone: pass an aware time (``zoneinfo`` for
        DST-correct local schedules, or UTC), or a naive one to get naive
        wall-clock times. Microseconds of ``when`` are dropped; ticks fall on
        whole seconds.
        """
        return next(CronSim(" ".join(self.fields), when))

    def __str__(self) -> str:
        return self.expression


def _explain(expression: str, fields: tuple[str, ...], problem: str) -> str:
    """cronsim says ``Bad minute``; say which text was bad and what it allows."""
    match = _BAD_FIELD.match(problem)
    if match is None or match.group("field") not in FIELD_NAMES:
        return f"{expression!r} is not a valid cron expression: {problem}"
    name = match.group("field")
    value = fields[FIELD_NAMES.index(name)]
    allowed = {
        "second": "0-59",
        "minute": "0-59",
        "hour": "0-23",
        "day-of-month": "1-31, L or nW",
        "month": "1-12 or jan-dec",
        "day-of-week": "0-7 (0 and 7 are Sunday), sun-sat, nL or n#k",
    }[name]
    message = f"{expression!r}: bad {name} field {value!r} (allowed: {allowed}, with * , - /)"
    if name == "day-of-month":
        message += ", or no month it names has that day"
    return message
