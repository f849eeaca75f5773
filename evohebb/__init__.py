"""evohebb: evolved Hebbian plasticity, SoftHebb networks and continual learning in one framework."""

from evohebb.torchvision_import import import_torchvision

import_torchvision()

__version__ = "0.1.0"
