"""One evaluation unit — protect one item's photo with one method under one protocol — and the worker that runs it.

`masque evaluate` turns every (method, protocol, item) into an `EvalUnit` carrying the bytes of the item's photo and
of its reference photos (so it runs on any node), runs the units on the chosen executor (`masque.executors`) through
the runner's unit function (`runner.protect_unit`), and writes what comes back — the protected photo as `masque
protect` writes it — with its scoring crop and a manifest line (`masque.manifest`). `EvalWorker` loads the FR models
once per process or Ray actor and keeps each method's pipeline; the item's seed (``cfg.seed + index``) makes the
result the same on every executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..executors import Resources


@dataclass(frozen=True)
class EvalUnit:
    method: str
    protocol: object  # runner.Protocol (target, surrogates, label)
    item_key: str
    index: int  # position of the item in the dataset (its seed is cfg.seed + index)
    seed: int
    identity: str
    photo: tuple[str, bytes]  # (file name, bytes) of the photo to protect
    references: tuple[tuple[str, bytes], ...]  # the item's other photos: the pair anchors (empty: single mode)

    @classmethod
    def of(cls, method: str, protocol, item, index: int, seed: int) -> EvalUnit:
        """Read the item's files (the driver does, when the unit is planned)."""
        refs = tuple((Path(r).name, Path(r).read_bytes()) for r in item.references)
        return cls(method, protocol, item.key, index, seed, item.identity,
                   (Path(item.source).name, Path(item.source).read_bytes()), refs)

    @property
    def key(self) -> str:
        """Manifest key: ``method/target__protocol/item``."""
        return f"{self.method}/{self.protocol.tag}/{self.item_key}"


@dataclass
class EvalResult:
    photo: bytes  # the protected photo, written in the source's format (what `masque protect` ships)
    record: dict  # seconds, nfe, trace, timings, verdict, status, similarities, engine_info


class EvalWorker:
    """FR models loaded once, and a cache of per-(method, surrogates) pipelines that ``run`` fills on first use.

    ``run(worker, unit) -> EvalResult`` is the evaluation's unit function (`runner.protect_unit`), passed in so
    that this plumbing stays below the runner.
    """

    def __init__(self, cfg, run: Callable, models: dict | None = None):
        from .zoo import load_models

        self.cfg, self.run = cfg, run
        self.models = models if models is not None else load_models(cfg.models, device=cfg.device)[0]
        self.pipelines: dict[tuple[str, tuple[str, ...]], object] = {}

    def __call__(self, unit: EvalUnit) -> EvalResult:
        return self.run(self, unit)


class UnitPools:
    """The run's manifest (locked) and one worker pool per resource shape, created on first use."""

    def __init__(self, executor, cfg, out_dir, run: Callable, models: dict | None = None):
        from ..executors import LocalExecutor
        from ..manifest import Manifest

        self.executor = executor or LocalExecutor()
        self.cfg, self.run = cfg, run
        self.models = models  # the driver's loaded models, shared with in-process workers (Ray loads its own)
        self.manifest = Manifest(out_dir).open()
        self._pools: dict[Resources, object] = {}

    def refuse_other_settings(self, digests: dict[str, set[str]]) -> None:
        """``skip_existing`` must not mix crops of other settings into this run (``digests``: method -> hashes)."""
        from ..manifest import refuse_mixed_settings

        for method, current in digests.items():
            refuse_mixed_settings(self.manifest, current, "use a new `--out` folder, or drop `--skip-existing` to "
                                                          "protect every item again.", prefix=f"{method}/")

    def pool(self, res: Resources):
        """The pool of workers asking ``res`` each (one pool per resource shape, e.g. GPU vs CPU methods)."""
        from functools import partial

        if res not in self._pools:
            if self.executor.name == "local" or self.models is None:
                make = partial(EvalWorker, self.cfg, self.run, self.models)
            else:  # remote workers load exactly the driver's models (not what happens to be on their node)
                make = partial(EvalWorker, replace(self.cfg, models=tuple(self.models)), self.run)
            self._pools[res] = self.executor.pool(make, res)
        return self._pools[res]

    def close(self) -> None:
        for pool in self._pools.values():
            close = getattr(pool, "close", None)
            if close is not None:
                close()
        self._pools = {}
        self.manifest.close()
