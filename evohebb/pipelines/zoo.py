"""The model zoo: small evolved genomes with their configs, one JSON file each (``zoo/*.json``).

``export_genome`` writes a run's genome (``best_validation`` by default: the search centre that did best on the
validation tracks) with the run's resolved config; ``evohebb evaluate zoo/<file>.json`` replays it from a fresh
clone. A zoo file is data: it is read with ``json`` and checked field by field, never executed or unpickled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from evohebb.config import config_from_dict, config_to_dict, load_config
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.run_io import atomic_write_json, read_results

FORMAT = "evohebb-zoo-genome/1"


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
             "genome_size": len(values), "genome": [float(v) for v in values],
             "source": {"run": run_dir.name, "genome": genome,
                        "generation": (results.get("best_validation") or {}).get("generation")
                        if genome == "best_validation" else results.get("best_generation"),
                        "validation_mean": (results.get("best_validation") or {}).get("mean")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, entry)
    return entry


def read_zoo_genome(path: Path) -> dict:
    """The checked contents of a zoo file: ``name``, ``config`` (a mapping the evolve config accepts), ``genome``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such zoo file or run folder")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ZooFileError(f"{path} is not a JSON zoo file ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ZooFileError(f"{path}: field 'format' must be {FORMAT!r}")
    genome = data.get("genome")
    if not isinstance(genome, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in genome):
        raise ZooFileError(f"{path}: field 'genome' must be a list of finite numbers")
    if not isinstance(data.get("config"), dict):
        raise ZooFileError(f"{path}: field 'config' must be a mapping (an evolve config)")
    config_from_dict(EvolveConfig, data["config"])   # raises a ConfigError naming a bad key
    return {"name": str(data.get("name", path.stem)), "config": data["config"], "genome": genome}
