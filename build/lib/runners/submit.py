"""Submit an evolve run to a Ray cluster as a Ray job.

    RAY_AUTH_MODE=token RAY_AUTH_TOKEN=<the cluster's token> \\
    python -m runners.submit --address http://<head>:8265 --runs-root /shared/runs [--wait] -- \\
        configs/evolve_carracing.yaml generations=50

The repository is uploaded as the job's working directory (runs/, .venv/, .git/ excluded); the job runs
``python -m runners.evolve ...`` on the head node, where Ray sets RAY_ADDRESS so the run joins the cluster.
That ``python`` is the first one on the head's PATH when it was started: start the head with the project's
environment active (``source .venv/bin/activate && ray start --head ...``), or install the project there
(``pip install torch==2.13.0 -e .``, or a ``--pip`` runtime environment). Ray 2.60 clusters use token
authentication: the submitter needs ``RAY_AUTH_MODE=token`` and the cluster's token (``RAY_AUTH_TOKEN`` or
``~/.ray/auth_token``). ``--runs-root`` should be an absolute path on the head node (a shared disk): relative
paths land in the job's temporary working directory. Equivalent to
``ray job submit --address ... --working-dir . -- python -m runners.evolve ... --runs-root ...``.

Failures a user fixes by setting something (token authentication, an unreachable address, a head whose
Python lacks the project's dependencies) end with one logged line saying what to set, and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
import time
from pathlib import Path

log = logging.getLogger("evohebb.submit")

REPO_ROOT = Path(__file__).resolve().parent.parent
EXCLUDES = ["runs/", ".venv/", ".git/", "**/__pycache__/", "bench/out/", "*.egg-info/"]
FINAL_STATES = ("SUCCEEDED", "FAILED", "STOPPED")
TOKEN_HINT = ("the cluster's token as RAY_AUTH_TOKEN or in ~/.ray/auth_token "
              "(`ray get-auth-token` on the head prints it)")
HEAD_ENV_HINT = ("start the head with the project's environment on PATH (`source .venv/bin/activate && "
                 "ray start --head ...`), or install the project there (`pip install torch==2.13.0 -e .`)")


class SubmitError(Exception):
    """A failure the user fixes by setting something; its message is the one line to show."""


def _token_found() -> bool:
    """Whether a token is where Ray's client looks for one (it only sends it when RAY_AUTH_MODE=token)."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token"
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or Path(path).is_file()


def _auth_hint(address: str, error: Exception) -> str:
    if "invalid" in str(error).lower():
        return f"the cluster at {address} refused the token sent: give {TOKEN_HINT}"
    mode = os.environ.get("RAY_AUTH_MODE", "unset")
    found = "a token found" if _token_found() else "no token found"
    return (f"the cluster at {address} requires a token that was not sent: set RAY_AUTH_MODE=token and "
            f"{TOKEN_HINT} (now: RAY_AUTH_MODE {mode}, {found})")


def missing_dependency(job_logs: str) -> str | None:
    """The module a job's log says its Python lacks (`No module named 'x'`), or None; the project's own
    packages do not count (a module missing there is a bug in the code, not in the head's environment)."""
    for module in re.findall(r"No module named '?([\w.]+)'?", job_logs):
        if not (REPO_ROOT / module.split(".")[0]).is_dir():
            return module
    return None


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


def _wait(client, job_id: str, timeout: float | None) -> str:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = str(client.get_job_status(job_id).value)
        if status in FINAL_STATES:
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise SubmitError(f"job {job_id} still {status} after {timeout} s; it goes on: "
                              f"`ray job logs {job_id}` / `ray job stop {job_id}`")
        time.sleep(1.0)


def submit(address: str, evolve_args: list[str], runs_root: str, pip: list[str] | None = None,
           wait: bool = False, timeout: float | None = None) -> tuple[str, str | None]:
    """Submit the job; return (job id, final status if waited).

    Raises SubmitError (a one-line message saying what to set) when the token is missing or refused, the
    address cannot be reached, the wait times out, or the job failed because the head's Python lacks a module.
    """
    import requests
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    entrypoint = " ".join(["python -m runners.evolve", *map(shlex.quote, evolve_args),
                           "--runs-root", shlex.quote(runs_root)])
    runtime_env = {"working_dir": str(REPO_ROOT), "excludes": EXCLUDES}
    if pip:
        runtime_env["pip"] = pip
    try:
        client = JobSubmissionClient(address)
        job_id = _submit_when_ready(client, entrypoint, runtime_env)
        log.info("submitted job %s: %s", job_id, entrypoint)
        if not wait:
            return job_id, None
        status = _wait(client, job_id, timeout)
        logs = client.get_job_logs(job_id)
    except AuthenticationError as error:
        raise SubmitError(_auth_hint(address, error)) from None
    except (ConnectionError, requests.exceptions.ConnectionError):
        raise SubmitError(f"cannot reach the Ray dashboard at {address}: check the address "
                          "(http://<head>:<dashboard port, 8265 by default>) and that the head is up "
                          "with its dashboard reachable from here (ray start --dashboard-host)") from None
    module = missing_dependency(logs) if status == "FAILED" else None
    if module is not None:
        log.debug("job %s log:\n%s", job_id, logs)
        raise SubmitError(f"job {job_id} FAILED: the head's Python lacks the project's dependencies "
                          f"(No module named '{module}'): {HEAD_ENV_HINT}; full log: `ray job logs {job_id}`")
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
    try:
        _, status = submit(args.address, evolve_args, args.runs_root, args.pip, args.wait, args.timeout)
    except SubmitError as error:
        log.error("%s", error)
        return 1
    return 0 if status in (None, "SUCCEEDED") else 1


if __name__ == "__main__":
    sys.exit(main())
