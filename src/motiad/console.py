"""What ``motiad`` shows a person: the step table and colourised log lines."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .tracing import LogRecord, short_id

_LEVEL_STYLES = {"debug": "dim", "info": "green", "warn": "yellow", "error": "bold red"}
_encode = msgspec.json.Encoder().encode


def make_console(file: TextIO | None = None) -> Console:
    """A console that never interprets log text as markup."""
    return Console(file=file or sys.stdout, highlight=False, markup=False, emoji=False)


def steps_table(rows: list[dict[str, Any]]) -> Table:
    """The table printed at start and by ``motiad steps``."""
    table = Table(title=None, header_style="bold", box=None, pad_edge=False)
    for column in ("Step", "Type", "Language", "Trigger", "File"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["type"], row["language"], row["trigger"], row["file"])
    return table


def streams_line(streams: list[tuple[str, str]]) -> str:
    """``streams: todo (steps/todo.stream.ts), …`` for (name, file) pairs; empty
    when there are none."""
    if not streams:
        return ""
    return "streams: " + ", ".join(f"{name} ({file})" for name, file in streams)


def languages_table(rows: list[dict[str, Any]]) -> Table:
    """The runner registry, as ``motiad languages`` prints it."""
    table = Table(title=None, header_style="bold", box=None, pad_edge=False)
    for column in ("Language", "Patterns", "Command", "Build", "Origin"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            " ".join(row["patterns"]),
            " ".join(row["command"]),
            " ".join(row.get("build") or []),
            row["origin"],
        )
    return table


def _fields_text(fields: dict[str, Any]) -> str:
    stack = fields.get("stack")
    rest = {k: v for k, v in fields.items() if k != "stack"}
    text = _encode(rest).decode() if rest else ""
    if isinstance(stack, str) and stack:
        text += "\n" + stack.rstrip()
    return text


class LogPrinter:
    """A log sink printing one line per record: time, level, step, short trace, message, fields."""

    def __init__(self, console: Console, *, min_level: str = "debug") -> None:
        self.console = console
        self._levels = ("debug", "info", "warn", "error")
        self._min = self._levels.index(min_level)

    def __call__(self, record: LogRecord) -> None:
        """Print ``record`` unless it is below the minimum level."""
        if self._levels.index(record.level) < self._min:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(record.time))
        millis = int(record.time % 1 * 1000)
        line = Text(f"{stamp}.{millis:03d} ", style="dim")
        line.append(f"{record.level.upper():5} ", style=_LEVEL_STYLES[record.level])
        line.append(f"{record.step or 'motiad'} ", style="cyan")
        if record.trace_id:
            line.append(f"{short_id(record.trace_id)} ", style="magenta")
        line.append(record.message)
        if record.fields:
            line.append(" " + _fields_text(record.fields), style="dim")
        self.console.print(line, soft_wrap=True)
