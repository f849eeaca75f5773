"""Which Ray actors a pool has: those placed and ready, those waiting for a CPU, growth and shrinking.

An actor asked for is *pending* until its first call (``pid``) answers, i.e. until Ray has placed it on a node with
a free CPU and built it there. A pending actor that Ray has not placed within ``placement_timeout_s`` is given up
(one placed but still building is waited for): the pool shrinks, and its work stays with the actors that are there
(a cluster that lost a node and has no spare CPU never places a replacement, and nothing may wait on it). Between
generations :meth:`ActorFleet.top_up` asks for actors up to the target where the cluster has free CPUs:
``size="auto"`` targets one actor per CPU of the cluster (so the CPUs of nodes that joined, the autoscaler's new
nodes, get actors), a fixed size refills up to that size (after a lost node came back). Actors held by other jobs
are never counted on: only free CPUs get new actors. Ids are never reused, so a slice that failed on an actor can
avoid that actor by id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

AUTO = "auto"


class NoActorsLeftError(RuntimeError):
    """Every actor is gone and none could be placed: the cluster has no CPU for this run now."""


@dataclass
class _Pending:
    actor: object            # the actor handle
    ready: object            # ObjectRef of its first call: resolves once the actor is placed and built
    deadline: float          # time.monotonic() after which it is given up, unless placed by then
    placed: bool = False     # a worker process holds it (it is being built): never given up


def _placed(actor) -> bool:
    """Whether Ray has given ``actor`` a worker process (it may still be building).

    Ray has no public call for this without its dashboard; the GCS actor table (``ray._private.state``, ray 2.60)
    has it: the pid is set once a worker is leased, 0 while the actor waits for a node with a free CPU.
    """
    from ray._private import state
    try:
        return bool(state.actors(actor._actor_id.hex()).get("Pid"))
    except Exception as err:   # noqa: BLE001 - another Ray version: fall back to the timer alone
        log.debug("the actor table did not say where an actor is (%s): giving it up on the timer", err)
        return False


def cluster_cpus() -> tuple[int, int]:
    """(CPUs in the cluster, CPUs free now), as whole numbers."""
    import ray
    return int(ray.cluster_resources().get("CPU", 0)), int(ray.available_resources().get("CPU", 0))


class ActorFleet:
    def __init__(self, make_actor: Callable[[], object], size: int | str, placement_timeout_s: float):
        if size != AUTO and (not isinstance(size, int) or size < 1):
            raise ValueError(f"size must be an integer >= 1 or {AUTO!r}, got {size!r}")
        self.make_actor = make_actor
        self.size = size
        self.placement_timeout_s = placement_timeout_s
        self.ready: dict[int, object] = {}
        self.pending: dict[int, _Pending] = {}
        self._next_id = 0
        self.last_error = ""
        for _ in range(self._target(cluster_cpus()[0])):
            self._ask()

    def __len__(self) -> int:
        return len(self.ready) + len(self.pending)

    # -------------------------------------------------------------------------------------- membership
    def _ask(self) -> int:
        actor_id, self._next_id = self._next_id, self._next_id + 1
        actor = self.make_actor()
        self.pending[actor_id] = _Pending(actor, actor.pid.remote(), time.monotonic() + self.placement_timeout_s)
        return actor_id

    def _target(self, total_cpus: int) -> int:
        """``auto``: one actor per CPU of the cluster (the driver holds none: it waits while the actors work)."""
        return max(1, total_cpus) if self.size == AUTO else self.size

    def top_up(self) -> None:
        """Between generations: ask for actors up to the target where the cluster has free CPUs."""
        total, free = cluster_cpus()
        missing = min(self._target(total) - len(self), free - len(self.pending))   # pending: placed later
        if missing > 0:
            for _ in range(missing):
                self._ask()
            log.info("the cluster has %d CPU(s) now: asking for %d more actor(s), %d in the pool", total, missing,
                     len(self))

    def replace(self, actor_id: int, reason: str) -> int:
        """``actor_id`` died: drop it and ask for a replacement (pending: it may never be placed)."""
        self._kill(self.ready.pop(actor_id))
        self.last_error = reason
        return self._ask()

    def pending_refs(self) -> dict:
        """The first-call refs of the pending actors (ref -> actor id): wait on them beside the work."""
        return {p.ready: actor_id for actor_id, p in self.pending.items()}

    def settle(self, ref) -> int | None:
        """A pending actor's first call returned: the actor is ready (its id), or it failed to start (None)."""
        import ray
        from ray.exceptions import RayActorError
        actor_id = self.pending_refs()[ref]
        entry = self.pending.pop(actor_id)
        try:
            ray.get(ref)
        except RayActorError as err:
            self.last_error = f"actor {actor_id} could not start: {type(err).__name__}: {err}"
            log.warning("%s", self.last_error)
            self._kill(entry.actor)
            return None
        self.ready[actor_id] = entry.actor
        return actor_id

    def settle_finished(self) -> None:
        """Take in the pending actors that became ready meanwhile (between generations, nothing waits)."""
        import ray
        refs = list(self.pending_refs())
        if refs:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in done:
                self.settle(ref)

    def expire(self) -> None:
        """Give up the pending actors past their deadline; say once how large the pool is now."""
        now = time.monotonic()
        for p in self.pending.values():
            if not p.placed and p.deadline <= now:
                p.placed = _placed(p.actor)   # placed but still building (a slow start): wait for it
        late = [actor_id for actor_id, p in self.pending.items() if not p.placed and p.deadline <= now]
        for actor_id in late:
            self._kill(self.pending.pop(actor_id).actor)
        if late:
            total, _ = cluster_cpus()
            self.last_error = (f"no actor could be placed within placement_timeout_s={self.placement_timeout_s:g} s "
                               f"(the cluster has {total} CPUs now)")
            log.warning("%d actor(s) not placed within %g s, given up: the pool shrinks to %d actor(s), the "
                        "cluster has %d CPU(s) now; their work goes to the actors left", len(late),
                        self.placement_timeout_s, len(self), total)
        if not self:
            raise NoActorsLeftError(f"no Ray actor is left to evaluate the population: {self.last_error}")

    def seconds_to_deadline(self) -> float | None:
        """Seconds until the next pending actor is given up (None: nothing is pending)."""
        deadlines = [p.deadline for p in self.pending.values() if not p.placed]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def close(self) -> None:
        for actor in [*self.ready.values(), *(p.actor for p in self.pending.values())]:
            self._kill(actor)
        self.ready, self.pending = {}, {}

    @staticmethod
    def _kill(actor) -> None:
        import ray
        try:
            ray.kill(actor, no_restart=True)
        except Exception as err:   # noqa: BLE001 - an actor on a lost node may already be gone; nothing to do
            log.debug("killing an actor: %s", err)
