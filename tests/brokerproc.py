"""Starting and stopping a real `fluxmq serve` process for the tests: a
random free port on 127.0.0.1 and a private data dir."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerProcess:
    """One broker process. `bootstrap` is what clients are given."""

    def __init__(self, data_dir: Path, extra_args: list[str] | None = None, env: dict | None = None,
                 tls=None):
        """`tls`: an ssl.SSLContext when the first listener is SSL (readiness is checked through it)."""
        self.host = "127.0.0.1"
        self.tls = tls
        self.port = free_port()
        self.data_dir = Path(data_dir)
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-broker.log"
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "BrokerProcess":
        env = dict(os.environ)
        env.update(self.env)
        cmd = [
            sys.executable, "-m", "fluxmq", "serve",
            "--host", self.host, "--port", str(self.port),
            "--data-dir", str(self.data_dir), "--log-level", "INFO",
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log_text()}")
            if self._answers_api_versions():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"broker did not listen within {timeout}s:\n{self.log_text()}")

    def _answers_api_versions(self) -> bool:
        """Ready means serving: the port opens before the logs are loaded."""
        request = struct.pack(">hhih", 18, 0, 1, 4) + b"test"
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as raw:
                s = self.tls.wrap_socket(raw, server_hostname="localhost") if self.tls else raw
                s.sendall(struct.pack(">i", len(request)) + request)
                return len(s.recv(8)) >= 8
        except OSError:
            return False

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (clean shutdown); returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self._log.close()
        return rc

    def kill(self) -> None:
        """kill -9: no chance to flush or write the clean-shutdown marker."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        self._log.close()

    def restart(self) -> "BrokerProcess":
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
