"""wrk: installing it, describing a request in Lua, running it, reading its output."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

THREADS = 2
CONNECTIONS = 32
"""``-t2 -c32``: enough connections to keep a one-worker server busy, few enough
threads that wrk leaves most of a small machine to the server."""

TIMEOUT_S = 2
"""wrk's default: a request slower than this counts as a timeout error."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request that wrk repeats."""

    method: str
    path: str
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def label(self) -> str:
        """``POST /messages``."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run measured. Latencies in milliseconds."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    """wrk's "Non-2xx or 3xx responses" (it counts every status above 399)."""
    socket_errors: dict[str, int]
    """connect / read / write / timeout, as wrk reports them."""
    raw: str = field(repr=False, default="")
    """wrk's report as printed."""

    @property
    def errors(self) -> int:
        """All socket errors together."""
        return sum(self.socket_errors.values())

    @property
    def ok(self) -> int:
        """Requests that got a 2xx/3xx answer."""
        return self.requests - self.non_2xx


def ensure_wrk() -> str:
    """The path of ``wrk``; installs the Debian package when it is missing (we run as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is missing; installing it with apt-get")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False).returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(install, check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get installed wrk but it is not on PATH")
    return found


def _lua_string(text: str) -> str:
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return f'"{text}"'


def lua_script(request: HttpRequest, path: Path) -> Path:
    """Write the Lua script that makes wrk send ``request`` (method, body, headers)."""
    lines = [f"wrk.method = {_lua_string(request.method)}"]
    if request.body is not None:
        lines.append(f"wrk.body = {_lua_string(request.body)}")
    lines += [
        f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}"
        for name, value in request.headers.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ORDER_ITEMS = (
    '[{"sku":"a-1","qty":2,"price":9.5},{"sku":"b-2","qty":1,"price":20},'
    '{"sku":"c-3","qty":3,"price":1.25}]'
)
"""The items of every benchmark order: a little JSON work for each step of the chain."""


def orders_script(path: Path, run: str, ids_dir: Path) -> Path:
    """The Lua script of ``chain-32``: POST /orders with a unique id per request
    (``RUN-THREAD-N``); each thread appends the id of every 200 answer to
    ``ids_dir/ids-THREAD.txt``, so the driver knows exactly which orders were accepted."""
    headers = '{["content-type"] = "application/json"}'
    lines = [
        "local threads = 0",
        "function setup(thread)",
        "  threads = threads + 1",
        '  thread:set("tid", threads)',
        "end",
        "local counter = 0",
        "local out = nil",
        "function init(args)",
        f"  out = io.open({_lua_string(str(ids_dir))} .. '/ids-' .. tid .. '.txt', 'a')",
        '  out:setvbuf("line")',
        "end",
        "function request()",
        "  counter = counter + 1",
        f"  local id = {_lua_string(run)} .. '-' .. tid .. '-' .. counter",
        f'  local body = \'{{"id":"\' .. id .. \'","run":"{run}","items":{ORDER_ITEMS}}}\'',
        f'  return wrk.format("POST", "/orders", {headers}, body)',
        "end",
        "function response(status, headers, body)",
        "  if status == 200 then",
        '    local id = string.match(body, \'"id":"([^"]+)"\')',
        '    if id then out:write(id, "\\n") end',
        "  end",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_wrk(wrk: str, url: str, script: Path, duration_s: float) -> WrkResult:
    """One wrk run at ``-t2 -c32 --latency`` against ``url``; raises on a wrk failure."""
    argv = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration_s:g}s",
        f"--timeout={TIMEOUT_S}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse(done.stdout)


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.M)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.M)


def parse(text: str) -> WrkResult:
    """Read wrk's ``--latency`` report; latencies converted to milliseconds."""
    percentiles = {
        int(match[1]): float(match[2]) * _UNIT_MS[match[3]] for match in _PERCENTILE.finditer(text)
    }
    total = _TOTAL.search(text)
    rps = _RPS.search(text)
    if total is None or rps is None or set(percentiles) != {50, 75, 90, 99}:
        raise ValueError(f"cannot read this wrk output:\n{text}")
    non_2xx = _NON_2XX.search(text)
    socket = _SOCKET.search(text)
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if socket is not None:
        socket_errors = dict(zip(socket_errors, map(int, socket.groups()), strict=True))
    return WrkResult(
        requests=int(total[1]),
        duration_s=float(total[2]) * _UNIT_MS[total[3]] / 1000,
        rps=float(rps[1]),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=socket_errors,
        raw=text,
    )
