"""Benchmark of evolution on a multi-node Ray cluster; prints JSON lines {"name", "value", "unit", "baseline",
"ratio"}.

A local cluster on loopback (evohebb.es.local_cluster: a head and worker nodes of 1 CPU each, `ray start`
processes), CarRacing on EnvPool (configs/evolve_carracing.yaml, short episodes), `num_actors=auto`:
1. cluster_generations_per_min_1_node / _2_nodes: generations per minute with 1 node, then with a second node;
2. cluster_node_failure_run_s: the same run on 2 nodes with the worker node killed after generation 2 (its actor's
   replacement can never be placed: after placement_timeout_s the pool shrinks to 1), against the uninterrupted
   2-node run; cluster_node_failure_time_lost_s: the difference.
The per-generation times are the runs' own `time/generation_s` (actor start-up before the first generation is not
counted; the first generation, which builds the actors' environments, is left out of the rates).

    python bench/cluster.py [--nodes 2] [--generations 8] [--popsize 16] [--max-steps 100] [--placement-timeout 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from pathlib import Path

import evohebb  # noqa: F401  (Ray settings before ray is imported)
from evohebb.es.local_cluster import LocalCluster
from evohebb.run_io import read_metrics

log = logging.getLogger("bench.cluster")
CONFIG = Path(__file__).resolve().parent.parent / "configs" / "evolve_carracing.yaml"


def emit(name, value, unit, baseline=None, ratio=None, **extra):
    print(json.dumps({"name": name, "value": round(value, 3), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(ratio, 3), **extra}), flush=True)


def run(cluster: LocalCluster, runs: Path, name: str, args: argparse.Namespace, num_actors: str,
        kill_node_after: int | None = None) -> tuple[list[float], list[float]]:
    """One evolve run on the cluster (the node killed after that many generations); its per-generation wall times
    and its fitness history (best and mean, generation by generation)."""
    driver = cluster.start_driver(runs / name, [
        str(CONFIG), f"generations={args.generations}", f"algorithm.popsize={args.popsize}",
        f"evaluation.max_steps={args.max_steps}", "evaluation.validation_every=0", "evaluation.random_baseline=false",
        f"evaluation.num_actors={num_actors}", f"evaluation.placement_timeout_s={args.placement_timeout}",
        "--runs-root", str(runs), "--name", name])
    if kill_node_after is not None:
        driver.wait_for_generations(kill_node_after)
        cluster.kill_node(cluster.live_nodes()[-1])
        log.info("%s: worker node killed after generation %d", name, kill_node_after)
    code = driver.finish(timeout_s=1200)
    if code != 0:
        raise RuntimeError(f"{name} failed (exit status {code}):\n{driver.text()[-3000:]}")
    metrics = read_metrics(runs / name)
    log.info("%s: actors per generation %s", name, [int(m["evaluation/actors"]) for m in metrics])
    return [m["time/generation_s"] for m in metrics], [(m["fitness/best"], m["fitness/mean"]) for m in metrics]


def per_minute(times: list[float]) -> float:
    return 60.0 / statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2, help="worker nodes + head, 1 CPU each (default 2)")
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--popsize", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--placement-timeout", type=float, default=30.0, help="evaluation.placement_timeout_s")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = {"generations": args.generations, "popsize": args.popsize, "max_steps": args.max_steps}

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp, LocalCluster() as cluster:
        runs = Path(tmp)
        cluster.start_head(num_cpus=1)
        one, reference = run(cluster, runs, "one-node", args, "auto")
        emit("cluster_generations_per_min_1_node", per_minute(one), "gen/min", **settings)
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=1)
        many, history = run(cluster, runs, "many-nodes", args, "auto")
        rate = per_minute(many)
        emit(f"cluster_generations_per_min_{args.nodes}_nodes", rate, "gen/min", round(per_minute(one), 3),
             rate / per_minute(one), same_history_as_1_node=history == reference, **settings)
        failed, history = run(cluster, runs, "node-lost", args, str(args.nodes), kill_node_after=2)
        lost, straight = sum(failed), sum(many)
        emit("cluster_node_failure_run_s", lost, "s", round(straight, 3), lost / straight,
             placement_timeout_s=args.placement_timeout, same_history_as_1_node=history == reference, **settings)
        emit("cluster_node_failure_time_lost_s", lost - straight, "s", None, None,
             placement_timeout_s=args.placement_timeout, **settings)


if __name__ == "__main__":
    main()
