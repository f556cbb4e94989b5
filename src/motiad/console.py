"""What ``motiad`` shows a person: tables that fit the terminal, colourised log
lines and the flow trees of ``motiad flows``. Only this module and
:mod:`motiad.cli` import rich (the import-linter contract in pyproject.toml)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Collection
from typing import Any, TextIO

import msgspec
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .trace_context import span_id_of
from .tracing import LogRecord, short_id

_LEVEL_STYLES = {"debug": "dim", "info": "green", "warn": "yellow", "error": "bold red"}
_encode = msgspec.json.Encoder().encode


PIPE_WIDTH = 100_000
"""The width a console assumes when it does not write to a terminal: wider than
any line, so a pipe or a file gets each line whole (rich's default, 80, would
break long lines, paths included, in the middle)."""


def make_console(file: TextIO | None = None) -> Console:
    """A console that never interprets log text as markup and never breaks a
    line of text itself: a terminal wraps what is too long for it, and a pipe
    gets whole lines. Tables fit a terminal's width (:class:`Listing`)."""
    out = file or sys.stdout
    return Console(
        file=out,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
        width=None if out.isatty() else PIPE_WIDTH,
    )


class Listing:
    """A table that never cuts a cell short and fits the terminal it is printed
    on: when its rows are too wide, cells wrap at spaces (a column gets at least
    its longest word, so paths and ids stay whole), and columns in ``whole``
    (ids, names, paths) are never wrapped. Printed to a pipe, each row is one
    line (:data:`PIPE_WIDTH`)."""

    def __init__(
        self, *headers: str, whole: Collection[str] = (), right: Collection[str] = ()
    ) -> None:
        self.headers = headers
        self.whole = set(whole)
        self.right = set(right)
        self.rows: list[tuple[str, ...]] = []

    def add_row(self, *cells: str) -> None:
        """Append a row, one cell per header."""
        self.rows.append(cells)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The rich table, its column widths chosen for ``options.max_width``."""
        widths = self._widths(options.max_width)
        made = Table(title=None, header_style="bold", box=None, pad_edge=False)
        for index, header in enumerate(self.headers):
            made.add_column(
                header,
                justify="right" if header in self.right else "left",
                no_wrap=header in self.whole,
                overflow="fold",  # a word wider than the whole terminal: on more lines
                width=None if widths is None else widths[index],
            )
        for row in self.rows:
            made.add_row(*row)
        yield made

    def _widths(self, room: int) -> list[int] | None:
        """None when the rows fit as they are; else each column's width: its
        longest word (whole cell in ``whole`` columns), then what room is left
        shared among the columns that want more."""
        columns = list(zip(self.headers, *self.rows, strict=True))
        room -= _COLUMN_GAP * (len(columns) - 1)
        natural = [max(cell_len(cell) for cell in column) for column in columns]
        if sum(natural) <= room:
            return None
        widths = [
            want if header in self.whole else max(_longest_word(cell) for cell in column)
            for header, want, column in zip(self.headers, natural, columns, strict=True)
        ]
        spare = room - sum(widths)
        while spare > 0:
            short = [i for i, want in enumerate(natural) if widths[i] < want]
            if not short:
                break
            share = max(1, spare // len(short))
            for i in short:
                grant = min(share, natural[i] - widths[i], spare)
                widths[i] += grant
                spare -= grant
        return widths


_COLUMN_GAP = 2
"""Spaces between two columns: rich's default padding, one on each side."""


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def stamp(seconds: float) -> str:
    """``2026-12-07 17:32:23``: a moment (epoch seconds) in local time."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def duration(seconds: float) -> str:
    """``0.42 ms``, ``12 ms``, ``1.25 s``: a span of time as the workbench shows
    it (its ``duration`` in ui.js), so both read the same."""
    ms = seconds * 1000
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 10 else f"{math.floor(ms + 0.5)} ms"
    return f"{ms / 1000:.{2 if ms < 10_000 else 1}f} s"


def plural(count: int, noun: str) -> str:
    """``1 dead letter``, ``2 dead letters``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def steps_table(rows: list[dict[str, Any]]) -> Listing:
    """The table printed at start and by ``motiad steps``."""
    steps = Listing("Step", "Type", "Language", "Trigger", "File", whole=("Step", "File"))
    for row in rows:
        steps.add_row(row["name"], row["type"], row["language"], row["trigger"], row["file"])
    return steps


def streams_line(streams: list[tuple[str, str]]) -> str:
    """``streams: todo (steps/todo.stream.ts), …`` for (name, file) pairs; empty
    when there are none."""
    if not streams:
        return ""
    return "streams: " + ", ".join(f"{name} ({file})" for name, file in streams)


def languages_table(rows: list[dict[str, Any]]) -> Listing:
    """The runner registry, as ``motiad languages`` prints it."""
    languages = Listing("Language", "Patterns", "Command", "Build", "Origin", whole=("Language",))
    for row in rows:
        languages.add_row(
            row["name"],
            " ".join(row["patterns"]),
            " ".join(row["command"]),
            " ".join(row.get("build") or []),
            row["origin"],
        )
    return languages


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


def flow_trees(graph: dict[str, Any]) -> list[Tree]:
    """``motiad flows``: the flow graph of :mod:`motiad.flows` (its JSON, the
    same data the workbench draws) as one tree per flow: each entry point (a
    step or topic nothing in the flow leads to), then what it emits, then who
    subscribes, and so on. A step met a second time is named, not expanded
    again, so cycles end."""
    nodes = {node["id"]: node for node in graph["nodes"]}
    edges = {edge["id"]: edge for edge in graph["edges"]}
    trees: list[Tree] = []
    for flow in graph["flows"]:
        flow_edges = [edges[edge_id] for edge_id in flow["edges"]]
        outgoing: dict[str, list[dict[str, Any]]] = {}
        incoming: set[str] = set()
        for edge in flow_edges:
            outgoing.setdefault(edge["from"], []).append(edge)
            incoming.add(edge["to"])
        members = [
            node_id
            for node_id, node in nodes.items()
            if flow["name"] in node["flows"]
            and (node["kind"] == "step" or node_id in outgoing or node_id in incoming)
        ]
        title = Text(f"flow {flow['name']}", style="bold")
        if flow["default"]:
            title.append("  (steps that name no flow)", style="dim")
        tree = Tree(title)
        shown: set[str] = set()
        roots = [node_id for node_id in members if node_id not in incoming]
        # Steps only reachable through a cycle get a root of their own.
        for node_id in [*roots, *members]:
            if node_id not in shown and (node_id in roots or nodes[node_id]["kind"] == "step"):
                _grow(tree, node_id, None, nodes, outgoing, shown)
        trees.append(tree)
    return trees


def _grow(
    parent: Tree,
    node_id: str,
    via: dict[str, Any] | None,
    nodes: dict[str, dict[str, Any]],
    outgoing: dict[str, list[dict[str, Any]]],
    shown: set[str],
) -> None:
    node = nodes[node_id]
    label = _edge_prefix(via)
    if node_id in shown:
        label.append(node["name"], style="cyan" if node["kind"] == "step" else "magenta")
        label.append_text(_edge_notes(via))
        label.append("  ↺ (above)", style="dim")
        parent.add(label)
        return
    shown.add(node_id)
    label.append_text(_step_label(node) if node["kind"] == "step" else _topic_label(node))
    label.append_text(_edge_notes(via))
    branch = parent.add(label)
    for edge in outgoing.get(node_id, []):
        _grow(branch, edge["to"], edge, nodes, outgoing, shown)


def _edge_prefix(edge: dict[str, Any] | None) -> Text:
    text = Text()
    if edge is None:
        return text
    text.append("⇢ " if edge["virtual"] else "→ ", style="dim")
    return text


def _step_label(node: dict[str, Any]) -> Text:
    text = Text(node["name"], style="bold cyan")
    text.append(f"  {node['type']}", style="green")
    if node["type"] in ("api", "cron"):
        text.append(f" {node['trigger']}")
    text.append(f"  {node['language']} · {node['file']}", style="dim")
    return text


def _topic_label(node: dict[str, Any]) -> Text:
    return Text(node["name"], style="magenta")


def _edge_notes(edge: dict[str, Any] | None) -> Text:
    """``[label] (conditional, virtual)`` for the edge that led here, or nothing."""
    text = Text()
    if edge is None:
        return text
    if edge["label"]:
        text.append(f" [{edge['label']}]", style="yellow")
    notes = [note for note in ("conditional", "virtual") if edge[note]]
    if notes:
        text.append(f" ({', '.join(notes)})", style="dim")
    return text


class JsonLogPrinter:
    """A log sink writing one JSON object per line (``--log-format json``), for
    log shippers: ``time`` (RFC 3339, UTC), ``level``, ``message``, then
    ``step``, ``trace_id``, ``span_id`` (W3C ids) and ``fields`` when the
    record has them."""

    def __init__(self, out: TextIO | None = None, *, min_level: str = "debug") -> None:
        self._out = out or sys.stdout
        self._levels = ("debug", "info", "warn", "error")
        self._min = self._levels.index(min_level)

    def __call__(self, record: LogRecord) -> None:
        """Write ``record`` unless it is below the minimum level."""
        if self._levels.index(record.level) < self._min:
            return
        line: dict[str, Any] = {
            "time": rfc3339(record.time),
            "level": record.level,
            "message": record.message,
        }
        if record.step:
            line["step"] = record.step
        if record.trace_id:
            line["trace_id"] = record.trace_id
        if record.invocation_id:
            line["span_id"] = span_id_of(record.invocation_id)
        if record.fields:
            line["fields"] = record.fields
        self._out.write(_encode_line(line).decode() + "\n")
        self._out.flush()


def rfc3339(stamp: float) -> str:
    """``2026-12-07T18:04:18.123Z``: a Unix time as RFC 3339 in UTC, to the millisecond."""
    seconds, millis = divmod(round(stamp * 1000), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def _encode_line(line: dict[str, Any]) -> bytes:
    """JSON of a log line; a field JSON cannot carry is written as its text."""
    return msgspec.json.encode(line, enc_hook=str)
