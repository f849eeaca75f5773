"""Submit an evolve run to a Ray cluster as a Ray job.

    python -m runners.submit --address http://<head>:8265 --runs-root /shared/runs [--wait] -- \\
        configs/evolve_carracing.yaml generations=50

The repository is uploaded as the job's working directory (runs/, .venv/, .git/ excluded); the job runs
``python -m runners.evolve ...`` on the head node, where Ray sets RAY_ADDRESS so the run joins the cluster.
The cluster's nodes need the project's dependencies installed (``pip install -e .`` there, or a
``--pip`` runtime environment). ``--runs-root`` should be an absolute path on the head node (a shared
disk): relative paths land in the job's temporary working directory. Equivalent to
``ray job submit --address ... --working-dir . -- python -m runners.evolve ... --runs-root ...``.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

log = logging.getLogger("evohebb.submit")

REPO_ROOT = Path(__file__).resolve().parent.parent
EXCLUDES = ["runs/", ".venv/", ".git/", "**/__pycache__/", "bench/out/", "*.egg-info/"]
FINAL_STATES = ("SUCCEEDED", "FAILED", "STOPPED")


def _submit_when_ready(client, entrypoint: str, runtime_env: dict, patience_s: float = 120.0) -> str:
    """Submit, retrying while a freshly started head says its job agent is not up yet."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.monotonic() > deadline:
                raise
            log.info("the cluster's job agent is not ready yet; retrying")
            time.sleep(2.0)


def submit(address: str, evolve_args: list[str], runs_root: str, pip: list[str] | None = None,
           wait: bool = False, timeout: float | None = None) -> tuple[str, str | None]:
    """Submit the job; return (job id, final status if waited)."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    entrypoint = " ".join(["python -m runners.evolve", *map(shlex.quote, evolve_args),
                           "--runs-root", shlex.quote(runs_root)])
    runtime_env = {"working_dir": str(REPO_ROOT), "excludes": EXCLUDES}
    if pip:
        runtime_env["pip"] = pip
    job_id = _submit_when_ready(client, entrypoint, runtime_env)
    log.info("submitted job %s: %s", job_id, entrypoint)
    if not wait:
        return job_id, None
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = str(client.get_job_status(job_id).value)
        if status in FINAL_STATES:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {status} after {timeout} s")
        time.sleep(1.0)
    logs = client.get_job_logs(job_id)
    log.info("job %s %s; its log ends with:\n%s", job_id, status, "\n".join(logs.splitlines()[-15:]))
    return job_id, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", required=True, help="the cluster's dashboard address, http://<head>:8265")
    parser.add_argument("--runs-root", default="/tmp/evohebb-runs",
                        help="absolute runs folder on the head node (default /tmp/evohebb-runs)")
    parser.add_argument("--pip", nargs="*", help="packages for the job's runtime environment")
    parser.add_argument("--wait", action="store_true", help="wait for the job to end and show its log tail")
    parser.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")
    parser.add_argument("evolve_args", nargs=argparse.REMAINDER,
                        help="after --: arguments of `evohebb evolve` (config and key=value overrides)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    evolve_args = args.evolve_args[1:] if args.evolve_args[:1] == ["--"] else args.evolve_args
    _, status = submit(args.address, evolve_args, args.runs_root, args.pip, args.wait, args.timeout)
    return 0 if status in (None, "SUCCEEDED") else 1


if __name__ == "__main__":
    sys.exit(main())
