"""Cluster path: start a Ray head on 127.0.0.1, submit a tiny evolve run as a Ray job, see it succeed, stop;
and the one-line hints a new user gets when the token is not sent, the address is wrong, or the head's
Python lacks the project's dependencies."""

from __future__ import annotations

import contextlib
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
from runners.submit import missing_dependency

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _head_env(path_first: Path) -> dict[str, str]:
    """A token-authenticated head's environment; the jobs' `python` is the first one in `path_first`."""
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")   # short: Ray's unix sockets live under it
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": ray_tmp,
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",   # a test head stops at once (default: drains 30 s)
           "PATH": f"{path_first}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    return env


@contextlib.contextmanager
def _local_head(env: dict[str, str]):
    """A Ray head on loopback with its own ports and temp dir; yields its dashboard address."""
    import ray
    if ray.is_initialized():     # a driver of the session's local instance would shadow the head
        ray.shutdown()
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
        yield f"http://127.0.0.1:{dashboard_port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)


def _submit(address: str, env: dict[str, str], *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runners.submit", "--address", address, *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR evohebb.submit: " in line]


@pytest.mark.slow
def test_submitted_job_runs_on_a_local_head(tmp_path, mnist_like_dir):
    env = _head_env(RAY.parent)   # the venv's bin first on the head's PATH: its jobs' `python` is this venv's
    with _local_head(env) as address:   # the submitter shares the head's token and RAY_AUTH_MODE=token
        runs = tmp_path / "runs"
        result = _submit(address, env, "--runs-root", str(runs), "--wait", "--timeout", "300", "--",
                         "task=classification", f"classification.data_dir={mnist_like_dir}", "generations=2",
                         "algorithm.popsize=4", "evaluation.max_steps=20", "evaluation.num_actors=1",
                         "network.rpe.enabled=true", "--name", "submitted")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "SUCCEEDED" in result.stderr
        results = read_results(runs / "submitted")
        assert results["completed"] and results["generations_done"] == 2


@pytest.fixture(scope="module")
def head_lacking_dependencies(tmp_path_factory):
    """A token-authenticated head whose PATH's `python` is a bare venv (no torch, no numpy): a head started
    without the project's environment. Yields (address, the head's environment)."""
    bare = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    lacks = subprocess.run([str(bare / "bin" / "python"), "-c", "import torch"], capture_output=True)
    assert lacks.returncode != 0, "the bare venv was meant to lack torch"
    env = _head_env(bare / "bin")
    with _local_head(env) as address:
        yield address, env


@pytest.mark.slow
@pytest.mark.parametrize("case", ["token not sent", "wrong token"])
def test_token_problems_give_one_line_hint(head_lacking_dependencies, case):
    address, head_env = head_lacking_dependencies
    env = {**head_env}
    if case == "token not sent":   # the token is there, but Ray's client sends it only with RAY_AUTH_MODE=token
        env.pop("RAY_AUTH_MODE")
    else:
        env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    result = _submit(address, env, "--", "generations=1", timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == _errors(result.stderr), result.stderr   # one line, nothing else
    (line,) = _errors(result.stderr)
    assert "RAY_AUTH_TOKEN" in line and "~/.ray/auth_token" in line and address in line
    if case == "token not sent":
        assert "set RAY_AUTH_MODE=token" in line and "now: RAY_AUTH_MODE unset, a token found" in line
    else:
        assert "refused the token sent" in line


@pytest.mark.slow
def test_job_on_a_head_lacking_dependencies_gives_the_hint(head_lacking_dependencies, tmp_path):
    address, env = head_lacking_dependencies
    result = _submit(address, env, "--runs-root", str(tmp_path / "runs"), "--wait", "--timeout", "120", "--",
                     "generations=1", timeout=200)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr          # the job's own traceback stays in its log
    (line,) = _errors(result.stderr)
    assert "FAILED: the head's Python lacks the project's dependencies (No module named '" in line
    assert "source .venv/bin/activate && ray start --head" in line and "pip install" in line
    assert "ray job logs raysubmit_" in line


def test_unreachable_address_gives_one_line_hint():
    port = _free_port()   # nothing listens there once the probe socket is closed
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    result = _submit(f"http://127.0.0.1:{port}", env, "--", "generations=1", timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == _errors(result.stderr), result.stderr
    assert f"cannot reach the Ray dashboard at http://127.0.0.1:{port}" in result.stderr


def test_missing_dependency_names_dependencies_not_the_projects_own_modules():
    assert missing_dependency("ModuleNotFoundError: No module named 'torch'") == "torch"
    assert missing_dependency("ModuleNotFoundError: No module named 'gymnasium.envs'") == "gymnasium.envs"
    # a missing module of the project itself is a bug in the code, not the head's environment
    assert missing_dependency("ModuleNotFoundError: No module named 'evohebb.nowhere'") is None
    assert missing_dependency("Traceback ...\nValueError: generations must be > 0") is None
