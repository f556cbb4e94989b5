"""A real ``redis-server`` for the tests: started on a free port in a temp
folder, with the append-only file on (what the README tells users to run), so
a restart keeps what it acknowledged."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

STARTUP_S = 10.0
"""A cold redis-server starts in milliseconds; ten seconds allows a loaded CI box."""


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process that can be stopped and started again on the
    same port and data folder (the fault tests do)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:PORT/DB``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Start it and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self.folder),
                    "--appendonly", "yes",
                    "--save", "",
                    "--daemonize", "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(
                        "redis-server did not start:\n" + (self.folder / "redis.log").read_text()
                    ) from None
                time.sleep(0.02)  # polling a port that is about to open
            finally:
                client.close()

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop it (by default abruptly: the append-only file still has every write)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        """Empty every database (between tests sharing the server)."""
        client = redis.Redis(port=self.port)
        try:
            client.flushall()
        finally:
            client.close()
