"""Servers a test talks to over 127.0.0.1: one Service base class (start on
a free port, wait until it answers, stop), and sshd, Prometheus and
node_exporter built on it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from tests.support.wait import every, wait_for

SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")
SSHD = shutil.which("sshd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
    """(status, body), or None if nothing answers (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return None


class Service:
    """A server process on a free 127.0.0.1 port, logging to a file.

    start() runs argv(port) and waits, bounded by START_TIMEOUT, until
    answers() or the process exits; a port taken between probing and
    binding is retried. stop() sends SIGTERM, then SIGKILL, and reaps it.
    A subclass says how to run it (argv), how to tell it answers (answers),
    and may write its config for the port first (prepare)."""

    START_TIMEOUT = 30.0
    PROBE_EVERY = 0.0  # seconds between two answers() probes
    STOP_TIMEOUT = 15.0
    ATTEMPTS = 3

    def __init__(self, name: str, log: Path):
        self.name = name
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def prepare(self, port: int) -> None:
        """Write whatever names PORT before the server starts."""

    def argv(self, port: int) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def start(self):
        for _ in range(self.ATTEMPTS):
            self.port = free_port()
            self.prepare(self.port)
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(self.argv(self.port), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            ready = wait_for(every(self.PROBE_EVERY, self._ready), self.START_TIMEOUT, f"{self.name} to answer")
            if ready == "up":
                return self
            self.proc.wait()
            if b"address already in use" not in self.log.read_bytes().lower():
                break
        raise AssertionError(f"{self.name} exited with status {self.proc.returncode}:\n{self.tail()}")

    def _ready(self) -> str | None:
        if self.proc.poll() is not None:
            return "exited"
        return "up" if self.answers() else None

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class HttpService(Service):
    """A server that is up once READY_PATH answers 200: Prometheus
    (/-/ready) and node_exporter (/metrics)."""

    PROBE_EVERY = 0.05

    def __init__(self, name: str, log: Path, argv_for_port: Callable[[int], list[str]], ready_path: str):
        super().__init__(name, log)
        self._argv_for_port = argv_for_port
        self.ready_path = ready_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self, port: int) -> list[str]:
        return self._argv_for_port(port)

    def answers(self) -> bool:
        answer = http_get(self.url + self.ready_path, timeout=1.0)
        return bool(answer) and answer[0] == 200


class Sshd(Service):
    """sshd -D on 127.0.0.1, keys and config in DIRECTORY, logging in USER
    with a key of its own; every session gets SESSION_ENV."""

    START_TIMEOUT = 20.0

    def __init__(self, directory: Path, user: str, session_env: dict[str, str]):
        super().__init__("sshd", directory / "sshd.log")
        self.dir = directory
        self.user = user
        self.session_env = session_env
        self.client_config = directory / "ssh_config"

    def spec(self, user: str | None = "default") -> str:
        user = self.user if user == "default" else user
        return f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"

    def start(self) -> "Sshd":
        d = self.dir
        for key in ("host_key", "client_key"):
            subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "mosaic-test",
                            "-f", str(d / key)],
                           check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        shutil.copyfile(d / "client_key.pub", d / "authorized_keys")
        # sshd's privilege separation needs this directory (systemd makes it
        # for the packaged service; a container may not have it).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        return super().start()

    def prepare(self, port: int) -> None:
        d = self.dir
        setenv = " ".join(f'"{k}={v}"' for k, v in self.session_env.items())
        (d / "sshd_config").write_text("\n".join([
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {d / 'host_key'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}",
            f"PidFile {d / 'sshd.pid'}",
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "X11Forwarding no",
            "PrintMotd no",
            f"SetEnv {setenv}",
            "",
        ]))
        host_key = (d / "host_key.pub").read_text().split()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        self.client_config.write_text("\n".join([
            "Host *",
            f"  IdentityFile {d / 'client_key'}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {d / 'known_hosts'}",
            "  StrictHostKeyChecking yes",
            "",
        ]))

    def argv(self, port: int) -> list[str]:
        return [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")]

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                return conn.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False
