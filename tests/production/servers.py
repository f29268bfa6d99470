"""Real server processes for the production tests: PgBouncer and gunicorn, each on a free port.

Both run as child processes in a session of their own, so a test can signal them (SIGTERM for a graceful
stop) and nothing outlives the test. They write their logs into the test's folder, which the assertion
messages name.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def direct_database() -> dict:
    """Host, port, user and name of the test database, as the test process reaches it."""
    db = connection.settings_dict
    return {"host": db["HOST"] or "127.0.0.1", "port": int(db["PORT"] or 5432), "user": db["USER"], "name": db["NAME"]}


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s")


class PgBouncer:
    """PgBouncer in front of the test's PostgreSQL, from a config generated for this test."""

    def __init__(self, *, pool_mode: str = "transaction", pool_size: int = 3, extra: str = ""):
        db = direct_database()
        # PgBouncer refuses to run as root; it then needs a folder the `postgres` account can read.
        self.dir = Path(tempfile.mkdtemp(prefix="loyalty-pgbouncer-"))
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.user = db["user"]
        (self.dir / "users.txt").write_text(f'"{db["user"]}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"""[databases]
* = host={db["host"]} port={db["port"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir / "users.txt"}
pool_mode = {pool_mode}
; Few server connections for many clients: every transaction may land on a session another client used.
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {self.dir / "pgbouncer.log"}
pidfile = {self.dir / "pgbouncer.pid"}
admin_users = {db["user"]}
{extra}
"""
        )
        for path in self.dir.iterdir():
            os.chmod(path, 0o666)
        self.proc: subprocess.Popen | None = None

    @property
    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def start(self) -> PgBouncer:
        command = [PGBOUNCER, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command[1:1] = ["-u", pwd.getpwnam("postgres").pw_name]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"pgbouncer exited with {self.proc.returncode}:\n{self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, timeout=20, what="pgbouncer listening")
        return self

    def url(self, name: str | None = None) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{name or direct_database()['name']}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # PgBouncer: SIGINT is the quick safe shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def django_env(**overrides: str) -> dict[str, str]:
    """The environment of a project process on the test database (overridable, e.g. through PgBouncer)."""
    db = direct_database()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['user']}@{db['host']}:{db['port']}/{db['name']}",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


class Gunicorn:
    """`gunicorn -c config/gunicorn.conf.py config.wsgi:application` on a free port."""

    def __init__(self, *, log_path: Path, env: dict[str, str], workers: int = 2, threads: int = 1):
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
        }
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, *, timeout: float = 60) -> Gunicorn:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.log}")
            try:
                return requests.get(f"{self.base}/livez", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=timeout, what=f"gunicorn answering /livez (log {self.log_path})", interval=0.2)
        return self

    def terminate(self) -> None:
        """SIGTERM to the master: gunicorn's graceful shutdown."""
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
