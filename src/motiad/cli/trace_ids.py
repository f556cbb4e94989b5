"""A trace named by any unique prefix or suffix of its id: the console shows
the last 8 digits of an id (its random end), the workbench its first ones, and
a person pastes either into ``motiad traces`` or ``motiad logs --trace``."""

from __future__ import annotations

import re
from pathlib import Path

import click

from ..console import stamp
from ..storage import LogQuery, Store, TraceQuery
from .store import with_store

FULL_ID = re.compile(r"[0-9a-f]{32}")
"""A whole trace id (:func:`motiad.tracing.new_id`): used as given."""

SEARCHED = 10_000
"""How many of the newest traces (and, failing them, log records) a part of an
id is matched against: the most one storage listing returns, and ten times the
traces kept by default."""

SHOWN = 10
"""Candidates listed when a part of an id matches several traces."""


def one_trace_id(project: Path, given: str) -> str:
    """The whole id of the one trace ``given`` names (the id itself, or a unique
    prefix or suffix of it, any case); a clean error when none or several match,
    listing the candidates."""
    wanted = given.strip().lower()
    if FULL_ID.fullmatch(wanted):
        return wanted
    if not wanted:
        raise click.BadParameter("give a trace id, or its first or last digits")
    found = with_store(project, lambda store: _matching(store, wanted))
    if not found:
        raise click.ClickException(
            f"no trace id starts or ends with {given!r} (it may be older than the ones kept;"
            " `motiad traces` lists the newest)"
        )
    if len(found) > 1:
        lines = [f"  {trace_id}  {about}" for trace_id, about in found[:SHOWN]]
        if len(found) > SHOWN:
            lines.append(f"  … and {len(found) - SHOWN} more")
        raise click.ClickException(
            f"{len(found)} traces have ids that start or end with {given!r}; say which:\n"
            + "\n".join(lines)
        )
    return found[0][0]


async def _matching(store: Store, wanted: str) -> list[tuple[str, str]]:
    """(id, a few words on it) for the kept traces whose ids start or end with
    ``wanted``, newest first; else the traces of the newest log records (a
    trace still running has records before its first span is kept)."""
    summaries = await store.traces(TraceQuery(limit=SEARCHED))
    found = [
        (t.trace_id, f"{stamp(t.started_at)}  {t.step} {t.detail}".rstrip())
        for t in summaries
        if _names(wanted, t.trace_id)
    ]
    if found:
        return found
    records = await store.logs(LogQuery(limit=SEARCHED))
    seen: dict[str, str] = {}
    for record in reversed(records):
        if record.trace_id and _names(wanted, record.trace_id):
            seen.setdefault(record.trace_id, f"{stamp(record.time)}  {record.step or 'motiad'}")
    return list(seen.items())


def _names(wanted: str, trace_id: str) -> bool:
    return trace_id.startswith(wanted) or trace_id.endswith(wanted)
