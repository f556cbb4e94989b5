"""The README's quick start, as a newcomer runs it: its commands, read from the
README itself, typed one after the other into one shell in a fresh clone. The
first command must leave a usable ``motiad`` in that shell, and every later
command must work as written (issue #20)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .harness import REPO
from .redis_server import free_port

DEADLINE_S = 240.0
"""For the whole walk: a fresh venv and pip install take most of it."""


def shell_blocks(section: str) -> list[str]:
    """The ```sh blocks of the README section whose heading is ``section``."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)


def commands(block: str) -> list[str]:
    """A block's commands, without comments and with continued lines joined."""
    joined = block.replace("\\\n", " ")
    lines = (line.split("  #", 1)[0].strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class Shell:
    """One bash, fed commands on its stdin as a person types them; what it
    prints is read on a thread and searched with deadlines (nothing sleeps)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self._process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output = ""
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._changed:
                self.output += line
                self._changed.notify_all()

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 120) -> re.Match[str]:
        """The first match of ``pattern`` in the output past offset ``after``."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: re.search(pattern, self.output[after:]), timeout=timeout
            )
        assert found, f"no {pattern!r} within {timeout}s; the shell showed:\n{self.output}"
        return found

    def type(self, command: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()

    def run(self, command: str, *, timeout: float = 180) -> None:
        """Type ``command`` and wait for it to finish with status 0."""
        mark = len(self.output)
        self.type(f'{command}\necho "__status $?"')
        status = self.wait_for(r"__status (\d+)", after=mark, timeout=timeout).group(1)
        assert status == "0", f"`{command}` exited {status}:\n{self.output[mark:]}"

    @contextmanager
    def serving(self, command: str) -> Iterator[None]:
        """Type a command that serves (in the background, as a second terminal
        would hold it), wait until it says it serves, and stop it after (SIGTERM:
        a background job of a non-interactive shell ignores Ctrl-C's SIGINT)."""
        mark = len(self.output)
        self.type(f"{command} &")
        self.run("served=$!")  # by pid: "kill %1" left the second server running
        self.wait_for(r"serving \d+ steps? on", after=mark)
        try:
            yield
        finally:
            self.run('kill "$served"; wait "$served" || true')

    def close(self) -> None:
        """End the shell and whatever it left running (its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._reader.join(timeout=10)  # the pipe's writers are gone: it ends
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm, as the README does")
def test_the_quick_start_works_as_written_in_one_shell(tmp_path: Path) -> None:
    clone = tmp_path / "motiad"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=60)
    port = free_port()
    # a new user's shell: none of this test run's virtualenv on PATH
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(REPO))
    )
    env = {**os.environ, "PATH": path, "MOTIAD_PORT": str(port), "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)
    (install_and_run, requests, create, polyglot) = shell_blocks("Quick start")[:4]
    del polyglot  # needs Go and Ruby; tests/test_polyglot.py runs that project
    first = commands(install_and_run)
    assert len(first) == 1
    assert ". .venv/bin/activate" in first[0]
    install, run = first[0].rsplit(" && ", 1)
    assert run == "motiad run examples/quickstart"

    shell = Shell(clone, env)
    try:
        shell.run(install, timeout=DEADLINE_S)
        with shell.serving(run):
            base = f"http://localhost:{port}"
            for curl in commands(requests):
                # the README's curl lines, against this test's port
                shell.run(curl.replace("localhost:3000", f"localhost:{port}"))
            assert '{"ok":true}' in shell.output
            got = httpx.get(f"{base}/messages/hi", timeout=10)
            assert got.json()["text"] == "hi"

        new_project, dev = commands(create)
        assert new_project.startswith("motiad create ")
        shell.run(new_project)  # no terminal here: the defaults, npm install included
        cd, dev_server = dev.split(" && ")
        shell.run(cd)
        with shell.serving(dev_server):
            made = httpx.post(
                f"http://localhost:{port}/orders", json={"item": "apple", "quantity": 2}
            )
            assert made.status_code == 201, made.text
            shell.wait_for(r"Your 2 x apple is on its way")
    finally:
        shell.close()
