"""A multi-node Ray cluster on this machine, on loopback: a head and worker nodes as separate ``ray start``
processes, for the tests and benchmarks of what a run does when a node is lost or joins.

Every node is started with its own ports (free ones, picked here), its own process group and token authentication
(a fresh token). Every listener is on 127.0.0.1: the nodes and the drivers started with
:meth:`LocalCluster.driver_env` keep ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, and a worker node joins through a
launcher that lets ``ray start`` join without it (with it, Ray would listen on the machine's address).
:meth:`LocalCluster.kill_node` kills a worker node's processes
with SIGKILL, which looks to Ray like a lost machine; :meth:`LocalCluster.stop` stops this cluster's processes by
their process groups, never with ``ray stop`` (that would stop every Ray instance on the machine).

    with LocalCluster() as cluster:
        cluster.start_head(num_cpus=1)
        node = cluster.add_node(num_cpus=1)
        subprocess.run([..., "evolve", ...], env=cluster.driver_env())
        cluster.kill_node(node)
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

RAY = Path(sys.executable).with_name("ray")
# `ray start` for a worker node on this machine: Ray refuses to join a second node here unless it thinks it is in
# cluster mode, and in cluster mode it swaps 127.0.0.1 for the machine's address and listens on every interface.
# This launcher lets it join and keeps 127.0.0.1, so that every node listens on loopback only (ray 2.60).
_WORKER_NODE_START = ("import sys, ray._private.ray_constants as constants, ray._private.services as services; "
                      "constants.ENABLE_RAY_CLUSTER = True; services.resolve_ip_for_localhost = lambda host: host; "
                      "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()")
OBJECT_STORE_BYTES = 150 * 1024**2   # per node; Ray's default (30 % of the memory) is far more than runs need


class ClusterStartError(RuntimeError):
    """A node of the local cluster did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    """The ports a node opens beside the GCS, each a free one (two nodes on one machine must not share any)."""
    names = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
             "runtime-env-agent-port", "metrics-export-port")
    return [f"--{name}={free_port()}" for name in names]


class LocalCluster:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="rayc", dir="/tmp")   # short: Ray's unix sockets live under it
        self.port = free_port()
        self.env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": self.tmp,
                    "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
                    # Ray's memory monitor kills workers when the *machine* is nearly full, whoever fills it: on a
                    # shared machine that would be other users' jobs killing these nodes' actors
                    "RAY_memory_monitor_refresh_ms": "0"}
        self.env.pop("RAY_ADDRESS", None)
        self.nodes: list[subprocess.Popen] = []   # [0] is the head

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def driver_env(self, **extra: str) -> dict[str, str]:
        """The environment of a driver process that joins this cluster (``RAY_ADDRESS`` set)."""
        return {**self.env, "RAY_ADDRESS": self.address, **extra}

    def start_driver(self, run_dir: Path, args: list[str]) -> EvolveDriver:
        """``python -m runners.evolve <args>`` (what a Ray job on the head runs) joined to this cluster."""
        return EvolveDriver(self.driver_env(EVOHEBB_PROGRESS="0"), run_dir, args)

    def _start(self, args: list[str], num_cpus: int) -> int:
        ray_start = [str(RAY)] if "--head" in args else [sys.executable, "-c", _WORKER_NODE_START]
        command = [*ray_start, "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}",
                   f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats", *_node_ports(), *args]
        # its own session: its process group holds the node's raylet and workers, stopped together
        self.nodes.append(subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True))
        return len(self.nodes) - 1

    def start_head(self, num_cpus: int = 1, timeout_s: float = 120.0) -> None:
        self._start(["--head", f"--port={self.port}", "--include-dashboard=false", "--dashboard-host=127.0.0.1",
                     f"--dashboard-port={free_port()}",
                     f"--ray-client-server-port={free_port()}", f"--temp-dir={self.tmp}"], num_cpus)
        self.wait_for_cpus(num_cpus, timeout_s)

    def add_node(self, num_cpus: int = 1, timeout_s: float = 120.0) -> int:
        """Start a worker node; return its index once the cluster counts its CPUs."""
        expected = self.cpus() + num_cpus
        index = self._start([f"--address={self.address}"], num_cpus)
        self.wait_for_cpus(expected, timeout_s)
        return index

    def cpus(self) -> int:
        """The CPUs of the nodes alive, as `ray status` reports them (0 while the head is not up)."""
        try:
            out = subprocess.run([str(RAY), "status", f"--address={self.address}"], env=self.env,
                                 capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:   # a busy machine: ask again
            return 0
        for line in out.stdout.splitlines():   # " 1.0/2.0 CPU"
            if line.strip().endswith(" CPU") and "/" in line:
                return int(float(line.split("/")[1].split()[0]))
        return 0

    def wait_for_cpus(self, cpus: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.cpus() != cpus:
            dead = [i for i, p in enumerate(self.nodes) if p.poll() is not None and p.returncode != -signal.SIGKILL]
            if dead or time.monotonic() > deadline:
                raise ClusterStartError(f"the local cluster did not reach {cpus} CPUs within {timeout_s:g} s "
                                        f"(nodes exited: {dead}); Ray's logs: {self.tmp}/session_latest/logs")
            time.sleep(1.0)

    def kill_node(self, index: int) -> None:
        """SIGKILL a worker node's processes (its raylet, workers and actors): a lost machine, to Ray."""
        if index == 0:
            raise ValueError("node 0 is the head; kill_node takes a worker node's index")
        _signal_group(self.nodes[index], signal.SIGKILL)
        self.nodes[index].wait()

    def live_nodes(self) -> list[int]:
        """The indices of the worker nodes still running."""
        return [i for i, node in enumerate(self.nodes) if i and node.poll() is None]

    def stop_node(self, index: int) -> None:
        """Stop a node the way ``ray stop`` would, but this node only (its process group)."""
        node = self.nodes[index]
        if node.poll() is None:
            _signal_group(node, signal.SIGTERM)
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _signal_group(node, signal.SIGKILL)
                node.wait()
        _signal_group(node, signal.SIGKILL)   # what the node left behind in its group

    def stop(self) -> None:
        for index in reversed(range(len(self.nodes))):   # worker nodes first, the head last
            self.stop_node(index)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


class EvolveDriver:
    """A driver process of an evolve run in ``run_dir`` (its log beside the run folder)."""

    def __init__(self, env: dict[str, str], run_dir: Path, args: list[str]):
        repo = Path(__file__).resolve().parents[2]
        self.run_dir = run_dir
        self.log = run_dir.parent / f"{run_dir.name}-{time.monotonic_ns()}.log"
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))}
        with self.log.open("w") as log_file:
            self.process = subprocess.Popen([sys.executable, "-m", "runners.evolve", *args], cwd=repo, env=env,
                                            stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)

    def generations_done(self) -> int:
        from evohebb.run_io import read_metrics
        return len(read_metrics(self.run_dir)) if (self.run_dir / "metrics.jsonl").exists() else 0

    def wait_for_generations(self, count: int, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while self.generations_done() < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the driver did not log generation {count} (exit status {self.process.poll()}); "
                                   f"its log ends with:\n{self.text()[-3000:]}")
            time.sleep(0.1)

    def finish(self, timeout_s: float) -> int:
        """Wait for the run to end (SIGKILL it after ``timeout_s``); its exit status."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def kill(self) -> None:
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait()

    def text(self) -> str:
        return self.log.read_text()
