"""Joining or starting Ray: a cluster when an address is given, else a local instance on loopback only."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def connect_ray(address: str | None = None, num_cpus: int | None = None) -> str:
    """Make sure Ray is running; return the address of the cluster in use.

    ``address`` (or ``RAY_ADDRESS``) joins an existing cluster. Otherwise a local instance is started with
    the dashboard off and every listener on 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray pick
    the loopback address as the node address, see ENVIRONMENT.md; ``evohebb/__init__`` sets it
    before anything imports ray), so a local run never listens beyond
    loopback. Start Ray here, before evotorch could start it with its own defaults.
    """
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context().gcs_address
    address = address or os.environ.get("RAY_ADDRESS") or None
    logging.getLogger("evotorch").setLevel(logging.WARNING)
    if address:
        log.info("joining the Ray cluster at %s", address)
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    else:
        if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
            log.warning("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER is not 0: Ray may listen beyond loopback "
                        "(import evohebb before ray so that it is set in time)")
        log.info("starting a local Ray instance on 127.0.0.1 with %s CPUs", num_cpus or "all")
        # Ray turns token authentication on for a new local instance and says so at every start; keep the
        # protection, drop the notice
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    return ray.get_runtime_context().gcs_address
