"""Where batch units run: ``local`` (in this process) or ``ray`` (actors on a Ray cluster, one per device).

A batch is a list of independent *units* (one photo for `masque protect`, one (method, protocol, item) for
`masque evaluate`) and a *worker*: an object built once per process by a picklable ``make_worker()`` (it loads the
engine and FR models) and called once per unit. Workers compute and return bytes; they never write the batch's
outputs — the driver does, as results stream back, together with the manifest line (`masque.manifest`). So the
same worker code runs in both executors, and the same seed gives the same outputs on both.

On Ray each worker is an actor with the unit's resource request (a GPU for the diffusion engine, a CPU for the fast
engine and PGD), so models load once per actor, not once per unit. An actor whose process dies (OOM, preemption,
``kill -9``) is restarted by Ray and its unfinished units are retried (``max_restarts``/``max_task_retries``); only
a unit that still fails after the retries is reported failed. Ray is imported only when this executor is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import InputError, MasqueError, NoFaceError

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Resources:
    """What one worker asks of the cluster (Ray's ``num_cpus`` / ``num_gpus`` of its actor)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0


@dataclass
class Outcome:
    """What became of one unit: ``done`` (``value`` = the worker's result), ``skipped`` or ``failed`` (``reason``)."""

    status: str
    value: Any = None
    reason: str | None = None


def run_unit(worker: Callable[[Any], Any], unit: Any) -> Outcome:
    """Call the worker on one unit; a user-fixable problem of this unit (no face, bad file) does not stop the batch."""
    try:
        return Outcome("done", worker(unit))
    except NoFaceError as exc:
        return Outcome("skipped", reason=str(exc))
    except MasqueError as exc:
        return Outcome("failed", reason=str(exc))


class Pool(Protocol):
    def map(self, units: Iterable[Any]) -> Iterator[tuple[Any, Outcome]]:
        """Run every unit; yield ``(unit, outcome)`` as each completes (any order)."""


class Executor(Protocol):
    name: str

    def pool(self, make_worker: Callable[[], Callable[[Any], Any]], resources: Resources) -> Pool:
        """Workers built by ``make_worker`` (once each), reused for every ``map`` call of the pool."""

    def close(self) -> None:
        """Release workers and, when this executor started it, the cluster."""


# -- local ----------------------------------------------------------------------------------------------------------
class LocalPool:
    def __init__(self, make_worker: Callable[[], Callable[[Any], Any]]):
        self.worker = make_worker()

    def map(self, units: Iterable[Any]) -> Iterator[tuple[Any, Outcome]]:
        for unit in units:
            yield unit, run_unit(self.worker, unit)


class LocalExecutor:
    """Today's behaviour: one worker in this process, units in order."""

    name = "local"

    def pool(self, make_worker, resources: Resources) -> LocalPool:
        return LocalPool(make_worker)

    def close(self) -> None:
        pass


# -- ray ------------------------------------------------------------------------------------------------------------
class _Host:
    """The actor body: builds the worker once, then runs units (Ray restarts it after a crash)."""

    def __init__(self, make_worker):
        self.worker = make_worker()

    def run(self, unit):
        return run_unit(self.worker, unit)

    def pid(self) -> int:
        return os.getpid()


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise InputError(field="executor", value="ray", rule="ray needs Ray: `pip install 'masque-privacy[ray]'` (or "
                         "`pip install ray`)", hint={"cli": "or use `--executor local`"}) from exc
    return ray


class RayPool:
    def __init__(self, ray, make_worker, resources: Resources, workers: int, retries: int, in_flight: int):
        self.ray = ray
        self.retries = retries
        self.in_flight = in_flight
        host = ray.remote(_Host).options(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
                                         max_restarts=retries, max_task_retries=retries)
        self.actors = [host.remote(make_worker) for _ in range(workers)]

    def pids(self) -> list[int]:
        """Process ids of the actors (for tests and diagnostics)."""
        return self.ray.get([a.pid.remote() for a in self.actors])

    def map(self, units: Iterable[Any]) -> Iterator[tuple[Any, Outcome]]:
        """Keep ``in_flight`` units queued per live actor; hand each result to the caller as soon as it arrives."""
        ray = self.ray
        todo = iter(units)
        pending: dict[Any, tuple[Any, Any]] = {}  # object ref -> (unit, actor)
        live = list(self.actors)

        def submit(actor) -> None:
            unit = next(todo, None)
            if unit is not None:
                pending[actor.run.remote(unit)] = (unit, actor)

        for actor in live:
            for _ in range(self.in_flight):
                submit(actor)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            unit, actor = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                outcome = Outcome("failed", reason=f"worker lost after {self.retries} restart(s): "
                                                   f"{type(exc).__name__}")
                if actor in live:
                    live.remove(actor)
                if not live:  # every worker is gone: what is left cannot run
                    for left in todo:
                        yield left, Outcome("failed", reason="no live worker left")
            else:
                submit(actor)
            yield unit, outcome

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


class RayExecutor:
    """Units as actor calls on a Ray cluster: ``address`` None starts a local one, ``"auto"`` joins a running one."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, retries: int = 3,
                 in_flight: int = 2, num_cpus: int | None = None):
        if workers is not None and workers < 1:
            raise InputError(field="workers", value=workers, rule=f"must be at least 1, got {workers}")
        self.address, self.workers, self.retries, self.in_flight = address, workers, retries, in_flight
        self.ray = _import_ray()
        self._started = False
        if not self.ray.is_initialized():
            self.ray.init(address=address, num_cpus=num_cpus if address is None else None,
                          include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                          runtime_env={"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}})
            self._started = True
        self.pools: list[RayPool] = []  # every pool this executor made (tests read worker pids)

    def _default_workers(self, resources: Resources) -> int:
        total = self.ray.cluster_resources()
        if resources.num_gpus > 0:
            gpus = total.get("GPU", 0)
            if gpus < resources.num_gpus:
                raise InputError(field="executor", value="ray", rule=f"ray: the engine asks {resources.num_gpus} "
                                 f"GPU per worker but the cluster at {self.address or 'local'} has {gpus}",
                                 hint="add GPU nodes or use the parametric engine")
            return max(1, int(gpus // resources.num_gpus))
        return max(1, int(total.get("CPU", 1) // resources.num_cpus))

    def pool(self, make_worker, resources: Resources) -> RayPool:
        workers = self.workers or self._default_workers(resources)
        pool = RayPool(self.ray, make_worker, resources, workers, self.retries, self.in_flight)
        self.pools.append(pool)
        return pool

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
        self.pools = []
        if self._started:
            self.ray.shutdown()
            self._started = False


def create_executor(name: str = "local", *, address: str | None = None, workers: int | None = None) -> Executor:
    """The one factory: ``local`` or ``ray`` (``address``/``workers`` apply to Ray only)."""
    if name not in EXECUTORS:
        raise InputError(field="executor", value=name, rule=f"must be one of {EXECUTORS}; got {name!r}")
    if name == "local":
        if address is not None or workers not in (None, 1):
            ray = {"cli": "`--executor ray`", "api": "`executor='ray'`"}
            raise InputError(field="address", value=address, rule=lambda n: f"and {n.workers} apply to "
                             f"{ray.get(n.front_end, 'the ray executor')} only",
                             hint={"cli": "drop them or add `--executor ray`"})
        return LocalExecutor()
    return RayExecutor(address=address, workers=workers)
