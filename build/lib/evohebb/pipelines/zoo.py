"""The model zoo: small evolved genomes with their configs, one JSON file each (``zoo/*.json``).

``export_genome`` writes a run's genome (``best_validation`` by default: the search centre that did best on the
validation tracks) with the run's resolved config and the genome's layout (its slice names and shapes, in order);
``evohebb evaluate zoo/<file>.json`` replays it from a fresh clone, after checking that the network its config
builds has exactly that layout (a reordered or resized slice is refused, naming it, instead of scrambling the
genome). A zoo file is data: it is read with ``json`` and checked field by field, never executed or unpickled.
Files of the first format (no layout) are converted by ``evohebb zoo-upgrade FILE ...``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from evohebb.config import config_from_dict, config_to_dict, load_config
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.run_io import atomic_write_json, read_results

FORMAT = "evohebb-zoo-genome/2"
#: the first format: no layout (converted by :func:`upgrade_zoo_file`)
FORMAT_1 = "evohebb-zoo-genome/1"


class ZooFileError(ValueError):
    """A zoo file is not a genome file of this format; the message names the file and the field."""


def export_genome(run_dir: Path, path: Path, genome: str = "best_validation", description: str = "") -> dict:
    run_dir, path = Path(run_dir), Path(path)
    results = read_results(run_dir)
    values = results.get(f"{genome}_genome")
    if values is None:
        raise FileNotFoundError(f"{run_dir}/results.json holds no {genome} genome")
    cfg = load_config(EvolveConfig, run_dir / "config.yaml")
    entry = {"format": FORMAT, "name": path.stem, "description": description, "config": config_to_dict(cfg),
             "layout": genome_layout(cfg), "genome_size": len(values), "genome": [float(v) for v in values],
             "source": {"run": run_dir.name, "genome": genome,
                        "generation": (results.get("best_validation") or {}).get("generation")
                        if genome == "best_validation" else results.get("best_generation"),
                        "validation_mean": (results.get("best_validation") or {}).get("mean")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, entry)
    return entry


def genome_layout(cfg: EvolveConfig) -> list[list]:
    """``[[slice name, shape], ...]`` of the genome of the network ``cfg`` builds, in genome order."""
    from evohebb.pipelines.evolve import evaluation_task
    return [[name, list(shape)] for name, shape in evaluation_task(cfg).build_network().genome_spec().items()]


def check_layout(path: Path, stored: list, built: dict[str, tuple[int, ...]]) -> None:
    """Refuse a genome whose stored layout differs from the network's, naming the first slice that differs."""
    built_items = [(name, tuple(shape)) for name, shape in built.items()]
    stored_items = [(name, tuple(shape)) for name, shape in stored]
    for i, (have, want) in enumerate(zip(stored_items, built_items)):
        if have != want:
            raise ZooFileError(f"{path}: genome slice {i} is {have[0]!r} {have[1]} in the file but {want[0]!r} "
                               f"{want[1]} in the network its config builds; the genome would be read scrambled")
    if len(stored_items) != len(built_items):
        longer, which = (stored_items, "file") if len(stored_items) > len(built_items) else (built_items, "network")
        raise ZooFileError(f"{path}: genome slice {longer[min(len(stored_items), len(built_items))][0]!r} exists "
                           f"only in the {which} ({len(stored_items)} slices in the file, {len(built_items)} in the "
                           f"network)")


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such zoo file or run folder")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ZooFileError(f"{path} is not a JSON zoo file ({err})") from None
    if not isinstance(data, dict):
        raise ZooFileError(f"{path}: a zoo file holds a JSON object")
    return data


def _check_format(path: Path, data: dict) -> None:
    if data.get("format") == FORMAT:
        return
    if data.get("format") == FORMAT_1:
        raise ZooFileError(f"{path} is a zoo file of the first format (no genome layout): convert it once with "
                           f"`evohebb zoo-upgrade {path}`")
    if "returns" in data and "source" in data:
        raise ZooFileError(f"{path} is an evaluation report (of {data['source']}), not a genome: evaluate the genome "
                           f"itself, e.g. `evohebb evaluate {data['source']}`")
    raise ZooFileError(f"{path}: field 'format' must be {FORMAT!r}")


def read_zoo_genome(path: Path) -> dict:
    """The checked contents of a zoo file: ``name``, ``config`` (a mapping the evolve config accepts), ``layout``
    and ``genome`` (as many numbers as the layout holds; evaluate checks the layout against the network)."""
    path = Path(path)
    data = _load_json(path)
    _check_format(path, data)
    genome = data.get("genome")
    if not isinstance(genome, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in genome):
        raise ZooFileError(f"{path}: field 'genome' must be a list of finite numbers")
    if not isinstance(data.get("config"), dict):
        raise ZooFileError(f"{path}: field 'config' must be a mapping (an evolve config)")
    layout = data.get("layout")
    if not isinstance(layout, list) or not all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], list)
            and all(isinstance(n, int) and n > 0 for n in e[1]) for e in layout):
        raise ZooFileError(f"{path}: field 'layout' must be a list of [slice name, [shape ...]] pairs")
    if sum(math.prod(shape) for _, shape in layout) != len(genome):
        raise ZooFileError(f"{path}: field 'genome' holds {len(genome)} numbers, its layout "
                           f"{sum(math.prod(s) for _, s in layout)}")
    config_from_dict(EvolveConfig, data["config"])   # raises a ConfigError naming a bad key
    return {"name": str(data.get("name", path.stem)), "config": data["config"], "layout": layout, "genome": genome}


def upgrade_zoo_file(path: Path) -> list[list]:
    """Convert a first-format zoo file in place: add the layout of the network its config builds (the layout
    those files were written with: it was fixed by the config alone), checked against the genome's length."""
    path = Path(path)
    data = _load_json(path)
    if data.get("format") == FORMAT:
        return data["layout"]
    if data.get("format") != FORMAT_1:
        _check_format(path, data)
    layout = genome_layout(config_from_dict(EvolveConfig, data.get("config")))
    if sum(math.prod(shape) for _, shape in layout) != len(data.get("genome", ())):
        raise ZooFileError(f"{path}: its config builds a genome of {sum(math.prod(s) for _, s in layout)} numbers, "
                           f"the file holds {len(data.get('genome', ()))}: it cannot be converted")
    upgraded = {"format": FORMAT, **{k: v for k, v in data.items() if k not in ("format", "genome")},
                "layout": layout, "genome": data["genome"]}
    atomic_write_json(path, upgraded)
    return layout
