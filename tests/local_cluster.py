"""A local Redis Cluster for the tests and for people: six redis-server processes on loopback.

Three masters with one replica each, made with ``redis-cli --cluster create``, each node in a
folder of its own under a temp dir, with the production persistence (``appendonly yes``,
``appendfsync always``). The tests start one per session (``HEALTHCODE_TEST_REDIS_MODE=cluster``,
tests/conftest.py); ``bash scripts/cluster start|stop|status`` runs one for a person:

    python -m tests.local_cluster start [--port 7100] [--dir /tmp/healthcode-cluster]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

NODES = 6  # three masters, one replica each
BUS_OFFSET = 10_000  # Redis Cluster's bus port is the client port + 10000


def _server() -> str:
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def _cli() -> str:
    return shutil.which("redis-cli") or "/usr/bin/redis-cli"


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = NODES, low: int = 7100, high: int = 7199) -> list[int]:
    """`count` consecutive ports in [low, high] whose bus ports are free too (other people's
    clusters may hold some of the range)."""
    for first in range(low, high - count + 2):
        ports = list(range(first, first + count))
        if all(_bindable(p) and _bindable(p + BUS_OFFSET) for p in ports):
            return ports
    raise RuntimeError(f"no {count} free ports (and bus ports) between {low} and {high}")


@dataclass
class LocalCluster:
    """Start, inspect, break and stop a six-node cluster under `root`."""

    root: Path
    ports: list[int]
    node_timeout_ms: int = 2000
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Any node names the cluster (HEALTHCODE_REDIS_URL)."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def node_dir(self, port: int) -> Path:
        return self.root / str(port)

    def _args(self, port: int) -> list[str]:
        return [
            _server(), "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A shard that is down stops only its own slots, not the whole cluster.
            "--cluster-require-full-coverage", "no",
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--dir", str(self.node_dir(port)), "--logfile", "redis.log", "--daemonize", "no",
        ]

    def start_node(self, port: int) -> None:
        self.node_dir(port).mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(self._args(port), stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait(lambda: self.ping(port), f"redis-server on port {port}")

    def start(self, timeout: float = 30.0) -> str:
        """All six nodes, the cluster made and cluster_state:ok on every node; the URL."""
        for port in self.ports:
            self.start_node(port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run([_cli(), "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        self.wait_ok(timeout)
        return self.url

    def cli(self, port: int, *args: str) -> str:
        done = subprocess.run([_cli(), "-p", str(port), *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def ping(self, port: int) -> bool:
        try:
            return self.cli(port, "ping").strip() == "PONG"
        except subprocess.TimeoutExpired:
            return False

    def info(self, port: int, section: str) -> dict[str, str]:
        args = ("cluster", "info") if section == "cluster" else ("info", section)
        lines = self.cli(port, *args).splitlines()
        return dict(line.strip().split(":", 1) for line in lines if ":" in line)

    def state_ok(self, port: int) -> bool:
        return self.info(port, "cluster").get("cluster_state") == "ok"

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Every live node sees cluster_state:ok and all 16384 slots served by a master, and
        every live replica has synced with its master (else WAIT 1 finds no replica)."""
        def ok() -> bool:
            live = [p for p in self.ports if self.alive(p)]
            return all(self.state_ok(p) and self.info(p, "cluster").get("cluster_slots_ok") == "16384"
                       and self.synced(p) for p in live)
        self._wait(ok, "cluster_state:ok", timeout)

    def synced(self, port: int) -> bool:
        replication = self.info(port, "replication")
        return replication.get("role") != "slave" or replication.get("master_link_status") == "up"

    def alive(self, port: int) -> bool:
        process = self.processes.get(port)
        return process is not None and process.poll() is None

    def role(self, port: int) -> str:
        return self.info(port, "replication").get("role", "")

    def masters(self) -> list[int]:
        return [p for p in self.ports if self.alive(p) and self.role(p) == "master"]

    def replica_of(self, master: int) -> int:
        for port in self.ports:
            if self.alive(port) and self.role(port) == "slave" \
                    and self.info(port, "replication").get("master_port") == str(master):
                return port
        raise LookupError(f"no replica of {master}")

    def kill(self, port: int) -> None:
        """SIGKILL: no shutdown, no final fsync (appendfsync always did that for each write)."""
        process = self.processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in list(self.processes.values()):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    @staticmethod
    def _wait(check: object, what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(check) and check():
                return
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}")


def start_cluster(root: Path | None = None, ports: list[int] | None = None,
                  node_timeout_ms: int = 2000) -> LocalCluster:
    """A new cluster in `root` (a temp dir by default) on `ports` (free ones by default)."""
    cluster = LocalCluster(Path(root or tempfile.mkdtemp(prefix="healthcode-cluster-")), ports or free_ports(),
                           node_timeout_ms)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


# -- the command for people (bash scripts/cluster) -------------------------------------------------

def _pids(root: Path) -> dict[int, int]:
    found = {}
    for pidfile in root.glob("*/pid"):
        found[int(pidfile.parent.name)] = int(pidfile.read_text())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--port", type=int, default=7100, help="the first of six ports (default 7100)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "healthcode-cluster")
    parser.add_argument("--node-timeout-ms", type=int, default=2000)
    args = parser.parse_args(argv)
    root: Path = args.dir
    if args.command == "start":
        if _pids(root):
            print(f"a cluster already runs from {root}; stop it first", file=sys.stderr)
            return 1
        shutil.rmtree(root, ignore_errors=True)
        cluster = start_cluster(root, list(range(args.port, args.port + NODES)), args.node_timeout_ms)
        for port, process in cluster.processes.items():
            (cluster.node_dir(port) / "pid").write_text(str(process.pid))
        print(f"HEALTHCODE_REDIS_MODE=cluster HEALTHCODE_REDIS_URL={cluster.url}")
        return 0
    pids = _pids(root)
    if args.command == "status":
        for port, pid in sorted(pids.items()):
            alive = os.path.exists(f"/proc/{pid}")
            print(f"127.0.0.1:{port} pid {pid} {'up' if alive else 'gone'}")
        return 0 if pids else 1
    for port, pid in pids.items():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        (root / str(port) / "pid").unlink(missing_ok=True)
    print(f"stopped {len(pids)} nodes; data left in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
