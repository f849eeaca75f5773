"""Cluster path: start a Ray head on 127.0.0.1, submit a tiny evolve run as a Ray job, see it succeed, stop."""

from __future__ import annotations

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

import pytest

from evohebb.run_io import read_results

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_submitted_job_runs_on_a_local_head(tmp_path, mnist_like_dir):
    import ray
    if ray.is_initialized():     # a driver of the session's local instance would shadow the head
        ray.shutdown()
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")   # short: Ray's unix sockets live under it
    # Ray 2.60 heads require a token: give the head and the submitter the same one
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": ray_tmp,
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "PATH": f"{RAY.parent}{os.pathsep}{os.environ.get('PATH', '')}"}   # the job's `python` is this venv's
    env.pop("RAY_ADDRESS", None)
    gcs_port, dashboard_port, agent_port, client_port = (_free_port() for _ in range(4))
    # `ray start --block` in its own process group: stopping it stops this head only (`ray stop` would
    # stop every Ray instance on the machine, other users' runs included); its own ports, so that a local
    # Ray already running here (its dashboard agent sits on the default 52365) does not collide
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", f"--port={gcs_port}",
                             "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
                             f"--dashboard-port={dashboard_port}", f"--dashboard-agent-listen-port={agent_port}",
                             f"--ray-client-server-port={client_port}", "--num-cpus=2", "--include-dashboard=true",
                             "--disable-usage-stats"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not _accepts(dashboard_port):
            assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not come up"
            time.sleep(0.5)
        runs = tmp_path / "runs"
        result = subprocess.run(
            [sys.executable, "-m", "runners.submit", "--address", f"http://127.0.0.1:{dashboard_port}",
             "--runs-root", str(runs), "--wait", "--timeout", "300", "--",
             "task=classification", f"classification.data_dir={mnist_like_dir}", "generations=2",
             "algorithm.popsize=4", "evaluation.max_steps=20", "evaluation.num_actors=1",
             "network.rpe.enabled=true", "--name", "submitted"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "SUCCEEDED" in result.stderr
        results = read_results(runs / "submitted")
        assert results["completed"] and results["generations_done"] == 2
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)
