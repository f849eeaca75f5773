"""Benchmark: unrolled conv + neuron-centric ABCD + weight sharing, single and population-batched.

Prints one JSON line per figure: {"name", "value", "unit", "baseline", "ratio", ...}; all
baselines are measured in this same process. Run:  .venv/bin/python bench/unrolled.py [--threads 1]

1. thesis first layer (64x64x3 -> 6 maps, k3): fast shared update (unfold + broadcast) vs a dense
   masked implementation of the same math (dense [n_post, n_pre] term matrices masked by the
   adjacency, aggregated per kernel entry with scatter_reduce); max abs difference reported.
2. the whole CarRacing policy step (forward + update, batch 1).
3. 64 policies stepping together vs 64 sequential single-policy steps (per policy).
4. peak memory of each, and the state of a 300-individual population.
5. with ``--device cuda``: P policies stepping together on that device against the same P on the CPU.
6. the population kernels against torch's direct call on the CarRacing network's shapes: ``population_linear``
   (x Wᵀ) against ``bmm(W, x)`` on the 392 -> 128 layer, ``population_tanh`` against ``torch.tanh`` (and the
   ``.contiguous()`` the rule needs) on the first conv's [P, 6, 62, 62] map as the grouped conv lays it out.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import threading
import time

import torch

from evohebb.nn.network_builders import carracing_policy
from evohebb.nn.unrolled import UnrolledConv2d, population_linear, population_tanh
from evohebb.plasticity.abcd import NeuronCentricABCD, NeuronParams
from evohebb.plasticity.weight_sharing import reduce_copies

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


class PeakRSS:
    """Peak resident-memory growth during a block (sampled every 0.5 ms), in MiB."""

    def __enter__(self):
        _trim()
        self.base = self.peak = _rss()
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop:
            self.peak = max(self.peak, _rss())
            time.sleep(0.0005)

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, _rss())
        self.mib = (self.peak - self.base) / 2**20


def emit(name, value, unit, baseline=None, ratio=None, **extra):
    print(
        json.dumps(
            {
                "name": name,
                "value": round(value, 4),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 4),
                "ratio": None if ratio is None else round(ratio, 2),
                **extra,
            }
        ),
        flush=True,
    )


def timeit(fn, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


# ---- 1. first layer: fast vs dense masked -------------------------------------------------------
def dense_masked_shared_update(x, y, pre, post, layer, entry_map, aggregation="max", rows_per_chunk=961):
    """The same math on dense [n_post, n_pre] matrices (row chunks), masked by the adjacency;
    each term and the rate aggregated per kernel entry (``terms`` mode) with scatter_reduce."""
    reduce = {"max": "amax", "min": "amin"}[aggregation]  # (max/min only: chunk-wise exact)
    fx, fy = x.reshape(-1), y.reshape(-1)
    ax, cx = pre.A.reshape(-1) * fx, pre.C.reshape(-1) * fx
    by, cy = post.B.reshape(-1) * fy, post.C.reshape(-1) * fy
    dpre, dpost = pre.D.reshape(-1), post.D.reshape(-1)
    epre, epost = pre.eta.reshape(-1), post.eta.reshape(-1)
    E = layer.n_conv_parameters
    init = {"amax": float("-inf"), "amin": float("inf")}[reduce]
    acc = {k: torch.full((E,), init) for k in ("eta", "a", "b", "c", "d")}
    for r0 in range(0, layer.n_post, rows_per_chunk):
        r = slice(r0, r0 + rows_per_chunk)
        emap = entry_map[r]
        mask = emap >= 0
        idx = emap[mask].long()
        terms = {
            "eta": (epre[None, :] + epost[r, None]) * 0.5,
            "a": ax[None, :].expand(emap.shape[0], -1),
            "b": by[r, None].expand(-1, emap.shape[1]),
            "c": cx[None, :] * cy[r, None],
            "d": dpre[None, :] * dpost[r, None],
        }
        for k, m in terms.items():
            acc[k].scatter_reduce_(0, idx, m[mask], reduce=reduce, include_self=True)
    dw = acc["eta"] * (acc["a"] + acc["b"] + acc["c"] + acc["d"])
    return dw.view_as(layer.weight[0])


def bench_first_layer(aggregation="max"):
    g = torch.Generator().manual_seed(0)
    layer = UnrolledConv2d(3, 6, 3, (64, 64))
    geom = layer.geometry

    def params(shape):
        return NeuronParams(*(torch.randn(1, *shape, generator=g) * 0.1 for _ in range(5)))

    pre, post = params((3, 64, 64)), params((6, 62, 62))
    x = torch.rand(1, 3, 64, 64, generator=g)
    y = torch.tanh(torch.randn(1, 6, 62, 62, generator=g))

    rule = NeuronCentricABCD()

    def shared_update(cache=None):
        update = rule.copy_update(x.unsqueeze(1), y.unsqueeze(1), None, (pre, post))
        return reduce_copies(update, geom, aggregation, "terms", cache)

    with PeakRSS() as mem_fast:
        fast_t = timeit(shared_update, repeat=30)
    cache = {}
    shared_update(cache)
    hot_t = timeit(lambda: shared_update(cache), 30)
    fast = shared_update()[0]

    entry, pre_i, post_j = layer.copy_index()  # structure of the dense layer (setup, not timed)
    entry_map = torch.full((layer.n_post, layer.n_pre), -1, dtype=torch.int16)
    entry_map[post_j, pre_i] = entry.to(torch.int16)
    del entry, pre_i, post_j
    _trim()
    with PeakRSS() as mem_dense:
        t = time.perf_counter()
        dense = dense_masked_shared_update(x[0], y[0], pre, post, layer, entry_map, aggregation)
        dense_t = time.perf_counter() - t
    diff = (fast - dense).abs().max().item()
    del entry_map
    _trim()
    emit(
        f"first_layer_shared_update_{aggregation}",
        fast_t * 1e3,
        "ms",
        dense_t * 1e3,
        dense_t / fast_t,
        max_abs_diff=diff,
        equal=bool(diff <= 1e-5 * max(1.0, dense.abs().max().item())),
        peak_mib=round(mem_fast.mib, 1),
        baseline_peak_mib=round(mem_dense.mib, 1),
        shape="3x64x64 -> 6x62x62, k3",
        baseline_impl="dense masked [23064 x 12288] + scatter_reduce",
    )
    emit(
        f"first_layer_shared_update_{aggregation}_precomputed_constants",
        hot_t * 1e3,
        "ms",
        dense_t * 1e3,
        dense_t / hot_t,
        note="D and eta aggregates cached per genome, as in UnrolledPlasticNetwork",
    )


# ---- 2./3. whole policy --------------------------------------------------------------------------
def _population_inputs(P: int) -> tuple[torch.Tensor, torch.Tensor]:
    """P thesis genomes (seeded draws) and one 64x64x3 frame for each."""
    gen, net = torch.Generator().manual_seed(1), carracing_policy()
    genomes = torch.stack([net.genome_init(gen) for _ in range(P)])
    return genomes, torch.rand(P, 3, 64, 64, generator=gen)


def bench_policy(aggregation: str, P: int = 64, steps: int = 5):
    net = carracing_policy(aggregation=aggregation)
    genomes, obs = _population_inputs(P)

    singles = []
    for q in range(P):
        s = carracing_policy(aggregation=aggregation)
        s.load_genomes(genomes[q : q + 1])
        s.reset(0)
        singles.append(s)

    def single_step(s, o):
        s(o)
        s.update()

    with PeakRSS() as mem_single:
        one = timeit(lambda: single_step(singles[0], obs[:1]), repeat=50, warmup=5)
    emit(
        f"policy_step_batch1_{aggregation}",
        one * 1e3,
        "ms",
        note="forward + update, 64x64x3 thesis policy",
        peak_mib=round(mem_single.mib, 1),
    )

    def sequential():
        for q, s in enumerate(singles):
            single_step(s, obs[q : q + 1])

    net.load_genomes(genomes)
    net.reset(0)

    def population():
        net(obs)
        net.update()

    with PeakRSS() as mem_seq:
        seq_t = timeit(sequential, repeat=steps, warmup=1)
    with PeakRSS() as mem_pop:
        pop_t = timeit(population, repeat=steps, warmup=1)
    emit(
        f"population{P}_step_per_policy_{aggregation}",
        pop_t / P * 1e3,
        "ms",
        seq_t / P * 1e3,
        seq_t / pop_t,
        baseline_impl=f"{P} sequential single-policy steps",
        peak_mib=round(mem_pop.mib, 1),
        baseline_peak_mib=round(mem_seq.mib, 1),
    )


# ---- 4. 300-individual state -----------------------------------------------------------------------
def bench_population_state(P: int = 300):
    with PeakRSS() as mem:
        net = carracing_policy()
        genomes = net.genome_init(torch.Generator().manual_seed(2)).expand(P, -1).clone()
        net.load_genomes(genomes)
        net.reset(0)
        t = time.perf_counter()
        net(torch.rand(P, 3, 64, 64))
        activity = sum(x.nbytes + y.nbytes for x, y in net._acts)
        net.update()
        step = time.perf_counter() - t
    state = genomes.nbytes + sum(w.nbytes for w in net.weights()) + activity
    state += sum(t.nbytes for cache in net._caches for t in cache.values())   # cached D and rate aggregates
    emit(
        f"population{P}_state_memory",
        mem.mib,
        "MiB",
        1024.0,
        1024.0 / mem.mib,
        tensor_state_mib=round(state / 2**20, 1),
        step_ms=round(step * 1e3, 1),
        note="peak RSS growth: build + load_genomes + reset + one step; baseline = the 1 GB target",
    )
    del net, genomes
    _trim()


# ---- 5. the population on another device ---------------------------------------------------------------
def bench_policy_on_device(device: torch.device, aggregation: str, P: int, steps: int = 5):
    """P thesis policies stepping together on ``device``; baseline: the same genomes and frames on the CPU."""
    genomes, obs = _population_inputs(P)
    times, actions = {}, {}
    for where in (torch.device("cpu"), device):
        net = carracing_policy(aggregation=aggregation, device=where)
        net.load_genomes(genomes.to(where))
        net.reset(0)
        x = obs.to(where)

        def step(net=net, x=x, where=where):
            out = net(x)
            net.update()
            if where.type == "cuda":
                torch.cuda.synchronize(where)
            return out

        actions[where.type] = step().cpu()
        times[where.type] = timeit(step, repeat=steps, warmup=1)
    emit(f"population{P}_step_per_policy_{aggregation}_{device.type}", times[device.type] / P * 1e3, "ms",
         times["cpu"] / P * 1e3, times["cpu"] / times[device.type], baseline_impl=f"the same {P} policies on the CPU",
         max_abs_diff_first_step=float((actions[device.type] - actions["cpu"]).abs().max()))


# ---- 6. population kernels ---------------------------------------------------------------------------
def bench_population_kernels(populations=(24, 36, 72)):
    for P in populations:
        _population_kernel_lines(P)


def _population_kernel_lines(P: int) -> None:
    x, w = torch.randn(P, 392), torch.randn(P, 128, 392)
    fast = timeit(lambda: population_linear(x, w), repeat=30)
    direct = timeit(lambda: torch.bmm(w, x.unsqueeze(-1)).squeeze(-1), repeat=30)
    emit(f"population_linear_392x128_P{P}_ms", fast * 1e3, "ms", baseline=direct * 1e3, ratio=direct / fast,
         baseline_impl="torch.bmm(W, x[..., None])")
    z = torch.randn(62, 62, P, 6).permute(2, 3, 0, 1)       # the first conv's map, laid out [H, W, P, C]
    fast = timeit(lambda: population_tanh(z, contiguous=True), repeat=30)
    direct = timeit(lambda: torch.tanh(z).contiguous(), repeat=30)
    emit(f"population_tanh_conv1_map_P{P}_ms", fast * 1e3, "ms", baseline=direct * 1e3, ratio=direct / fast,
         baseline_impl="torch.tanh(z).contiguous()",
         max_abs_diff=float((population_tanh(z, contiguous=True) - torch.tanh(z)).abs().max()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1: shared machine)"
    )
    ap.add_argument("--population", type=int, default=64)
    ap.add_argument("--device", default=None, help="also step the population on this device (e.g. cuda) against "
                    "the CPU; with it, only those lines")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    print(
        json.dumps(
            {
                "name": "machine",
                "value": os.cpu_count(),
                "unit": "cpus",
                "baseline": None,
                "ratio": None,
                "torch": torch.__version__,
                "threads": args.threads,
                "platform": platform.platform(),
            }
        )
    )
    with torch.no_grad():
        if args.device:
            for agg in ("max", "mean"):
                bench_policy_on_device(torch.device(args.device), agg, args.population)
            emit("bench_runtime", time.perf_counter() - t0, "s")
            return
        bench_population_state()
        for agg in ("max", "mean"):
            bench_policy(agg, args.population)
        bench_first_layer("max")
        bench_population_kernels()
    emit("bench_runtime", time.perf_counter() - t0, "s")


if __name__ == "__main__":
    main()
