"""What the one-shot commands print, read as a person reads it (issue #20): a
trace found by the digits the console shows, words in the singular when there
is one, durations as the workbench writes them, a misspelt setting named with
its likely spelling.

The traces are written to a real SQLite store as a broker records them; the
commands run as real ``motiad`` processes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import anyio
import pytest

from motiad.config import load_settings
from motiad.storage import open_store
from motiad.tracing import LogRecord, Span

from .harness import run_cli

pytestmark = pytest.mark.anyio

# Two ids share a start (made in the same minute), two an end.
FIRST = "0193aaaa" + "0" * 16 + "11112222"
SECOND = "0193aaaa" + "0" * 16 + "33334444"
THIRD = "0193bbbb" + "0" * 16 + "55552222"
RUNNING = "0193cccc" + "0" * 16 + "77778888"
"""A trace still running: it has log records, no span kept yet."""


async def recorded(project: Path) -> Path:
    """``project`` with three finished traces and one running, as a broker
    records them (spans of 1.5 s and 12 ms, one log record each)."""
    (project / "steps").mkdir(parents=True)
    store = open_store(load_settings(project), project)
    now = time.time()
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        for n, (trace_id, took) in enumerate(((FIRST, 1.5), (SECOND, 0.012), (THIRD, 0.012))):
            start = now - 60 + n
            invocation = f"{n:032x}"
            store.record_span(
                Span(
                    invocation, trace_id, "Orders", "api", "POST /orders", start, start + took, "ok"
                )
            )
            store.record_log(LogRecord(start, "info", f"order {n}", "Orders", trace_id, invocation))
        store.record_log(LogRecord(now, "info", "still working", "Slow", RUNNING, "f" * 32))
        await store.flush_traces()
        tg.cancel_scope.cancel()
    return project


async def test_a_trace_is_found_by_any_unique_start_or_end_of_its_id(tmp_path: Path) -> None:
    project = await recorded(tmp_path / "p")

    by_end = run_cli("traces", "33334444", "-p", str(project))
    assert by_end.returncode == 0, by_end.stderr
    assert f"trace {SECOND}" in by_end.stdout
    by_start = run_cli("traces", "0193BBBB", "-p", str(project))  # any case
    assert f"trace {THIRD}" in by_start.stdout

    logs = run_cli("logs", str(project), "--trace", "11112222", "--json")
    assert logs.returncode == 0, logs.stderr
    assert [json.loads(line)["message"] for line in logs.stdout.splitlines()] == ["order 0"]
    running = run_cli("logs", str(project), "--trace", "77778888")
    assert "still working" in running.stdout


@pytest.mark.parametrize(
    ("part", "candidates"), [("0193aaaa", (FIRST, SECOND)), ("2222", (FIRST, THIRD))]
)
async def test_a_part_of_several_ids_lists_them_in_full(
    part: str, candidates: tuple[str, ...], tmp_path: Path
) -> None:
    project = await recorded(tmp_path / "p")
    for args in (("traces", part), ("logs", "--trace", part)):
        refused = run_cli(*args, "-p", str(project))
        assert refused.returncode == 1
        assert f"2 traces have ids that start or end with '{part}'; say which" in refused.stderr
        for trace_id in candidates:
            assert trace_id in refused.stderr


async def test_a_part_of_no_id_is_an_error_not_an_empty_listing(tmp_path: Path) -> None:
    project = await recorded(tmp_path / "p")
    for args in (("traces", "99999999"), ("logs", "--trace", "99999999")):
        refused = run_cli(*args, "-p", str(project))
        assert refused.returncode == 1
        assert "no trace id starts or ends with '99999999'" in refused.stderr


async def test_durations_read_as_the_workbench_writes_them(tmp_path: Path) -> None:
    project = await recorded(tmp_path / "p")
    listed = run_cli("traces", "-p", str(project))
    assert "1.50 s" in listed.stdout
    assert "12 ms" in listed.stdout
    assert "3 traces;" in listed.stdout
    shown = run_cli("traces", FIRST, "-p", str(project))
    assert "took 1.50 s" in shown.stdout


def test_one_of_a_thing_is_said_in_the_singular(tmp_path: Path) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "one_step.py").write_text('config = {"name": "One", "type": "noop"}\n')
    typed = run_cli("types", str(tmp_path))
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout.rstrip().endswith("for 1 step")
    purged = run_cli("dlq", "purge", "--all", "-p", str(tmp_path))
    assert purged.stdout.strip() == "purged 0 dead letters"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("prot = 3000\n", "motiad.toml: prot: unknown setting; did you mean port?"),
        (
            "[queue]\nmax_retry = 3\n",
            "motiad.toml: queue.max_retry: unknown setting; did you mean max_retries?",
        ),
        ("colour = 1\n", "motiad.toml: colour: unknown setting (expected one of: host, port,"),
    ],
)
def test_a_misspelt_setting_is_named_with_its_likely_spelling(
    toml: str, expected: str, tmp_path: Path
) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "motiad.toml").write_text(toml)
    refused = run_cli("steps", str(tmp_path))
    assert refused.returncode == 1
    assert expected in refused.stderr
    assert "Object contains" not in refused.stderr


def in_terminal(columns: int, *args: str) -> list[str]:
    """The lines ``motiad ARGS`` shows in a terminal ``columns`` wide (a real
    pseudo-terminal, so the process sees a tty of that size), without colours."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "motiad", *args], stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    shown = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], deadline - time.monotonic())
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # EIO: the terminal's other end closed, the process ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=10) == 0, shown.decode()
    return [ANSI.sub("", line).rstrip() for line in shown.decode().splitlines()]


ANSI = re.compile(r"\x1b\[[0-9;]*m")


async def test_at_80_columns_ids_and_paths_are_whole(tmp_path: Path) -> None:
    project = await recorded(tmp_path / "p")
    traces = in_terminal(80, "traces", "-p", str(project))
    assert max(len(line) for line in traces) <= 80
    for trace_id in (FIRST, SECOND, THIRD):
        assert any(trace_id in line for line in traces), traces

    languages = in_terminal(80, "languages", str(project))
    assert max(len(line) for line in languages) <= 80
    words = {word for line in languages for word in line.split()}
    assert {"{sdk}/src/runner.mjs", "{project}/.motiad/go/steps", "{sdk}/build.sh"} <= words


def piped(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    """``motiad ARGS`` with its output read through pipes, ``COLUMNS`` set."""
    return subprocess.run(
        [sys.executable, "-m", "motiad", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": str(columns)},
        timeout=60,
        check=False,
    )


def test_in_a_pipe_each_row_and_message_is_one_line_whatever_the_width(tmp_path: Path) -> None:
    steps = tmp_path / "steps"
    steps.mkdir()
    long_name = "a_step_file_with_a_name_long_enough_to_wrap_step.py"
    (steps / long_name).write_text('config = {"name": "Noop", "type": "noop"}\n')
    broken = "another_step_file_with_a_long_name_that_fails_to_load_step.py"
    (steps / broken).write_text("config = {\n")

    languages = piped("languages", str(tmp_path), columns=40)
    assert "\x1b[" not in languages.stdout
    assert len(languages.stdout.splitlines()) == 5  # the header and python, node, go, ruby
    assert "node {sdk}/src/runner.mjs" in languages.stdout

    listed = piped("steps", str(tmp_path), columns=40)
    assert listed.returncode == 1  # a step failed to load
    rows = listed.stdout.splitlines()
    assert len(rows) == 2
    assert rows[1].split()[-1] == f"steps/{long_name}"
    (error,) = [line for line in listed.stderr.splitlines() if line.startswith("error:")]
    assert f"steps/{broken}: failed to load" in error
