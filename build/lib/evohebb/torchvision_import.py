"""The one place that imports torchvision (every process, Ray workers included, goes through ``evohebb``).

Why: the torchvision 0.28.0 wheel on PyPI is a CUDA build. On a CPU-only torch its compiled ``_C.so``
cannot load, and ``import torchvision`` then fails with
``RuntimeError: operator torchvision::nms does not exist`` because its Python side registers fake
kernels for operators whose schemas live in the missing ``_C.so``. Defining those schemas with
``torch.library`` first lets the import succeed; datasets, transforms, ``make_grid`` and models work,
only ``torchvision.ops.nms`` and JPEG encode/decode stay unusable (evohebb uses neither).
Where ``_C.so`` loads (a CUDA machine) the first import succeeds and this is a no-op.
"""

from __future__ import annotations

import sys

import torch

_MISSING_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_schema_library = None  # kept alive: the schemas are removed when the Library object is collected


def import_torchvision():
    """Return the ``torchvision`` module, defining missing operator schemas if its ``_C.so`` cannot load."""
    global _schema_library
    try:
        import torchvision
        return torchvision
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _schema_library = torch.library.Library("torchvision", "DEF")
    for schema in _MISSING_SCHEMAS:
        _schema_library.define(schema)
    import torchvision
    return torchvision
