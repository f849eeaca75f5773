"""evohebb: evolved Hebbian plasticity, SoftHebb networks and continual learning in one framework."""

import os

# Ray reads this when it is imported (evotorch imports it too): with it, a local Ray instance binds every
# listener to 127.0.0.1 instead of all interfaces (ENVIRONMENT.md). Not set when joining a cluster.
if not os.environ.get("RAY_ADDRESS"):
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# evotorch configures a logger of its own when imported, and warns "The logger is already configured" when the
# application has configured logging first (every evohebb command): -1 leaves its messages to our logging setup.
os.environ.setdefault("EVOTORCH_VERBOSE_LEVEL", "-1")

from evohebb.torchvision_import import import_torchvision  # noqa: E402

import_torchvision()

__version__ = "0.1.0"
