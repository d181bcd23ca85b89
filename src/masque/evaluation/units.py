"""One evaluation unit — protect one item with one method under one protocol — and the worker that runs it.

`masque evaluate` turns every (method, protocol, item) into an `EvalUnit` carrying the aligned crops it needs (so it
runs on any node), runs the units on the chosen executor (`masque.executors`), and writes what comes back together
with a manifest line (`masque.manifest`). `EvalWorker` loads the FR models once per process or Ray actor and builds
each method's engine once; the item's seed (``cfg.seed + index``) makes the result the same on every executor.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..executors import Resources
from .faces import FaceCrop


@dataclass(frozen=True)
class EvalUnit:
    method: str
    protocol: object  # runner.Protocol (target, surrogates, label)
    item_key: str
    index: int  # position of the item in the dataset (its seed is cfg.seed + index)
    seed: int
    face: FaceCrop
    references: tuple[np.ndarray, ...]  # aligned crops of the item's other photos (empty: single mode)
    anchors: tuple[str, ...]  # their paths, for the record

    @property
    def key(self) -> str:
        """Manifest key: ``method/target__protocol/item``."""
        return f"{self.method}/{self.protocol.tag}/{self.item_key}"


@dataclass
class EvalResult:
    png: bytes  # the protected crop, lossless
    record: dict  # seed, seconds, nfe, trace, engine_info (results.json's per-item record)


def resources_for(method: str, device: str) -> Resources:
    """The diffusion method asks a GPU unless it runs on the CPU; PGD and the fast engine one CPU."""
    return Resources(num_cpus=1.0, num_gpus=1.0 if method == "masque" and device != "cpu" else 0.0)


class EvalWorker:
    """FR models loaded once; one engine per (method, surrogates), built on first use."""

    def __init__(self, cfg, models: dict | None = None):
        from .zoo import load_models

        self.cfg = cfg
        self.models = models if models is not None else load_models(cfg.models, device=cfg.device)[0]
        self.engines: dict[tuple[str, tuple[str, ...]], object] = {}

    def __call__(self, unit: EvalUnit) -> EvalResult:
        from .runner import MASKED, _json_safe, build_method, region_mask

        cfg = self.cfg
        # 1. the method's engine, optimised on the protocol's surrogates
        ident = (unit.method, tuple(unit.protocol.surrogates))
        if ident not in self.engines:
            self.engines[ident] = build_method(unit.method, [self.models[s] for s in ident[1]], cfg)
        engine = self.engines[ident]
        # 2. anchors (single mode: the photo itself) and the region the method may touch
        face = unit.face
        anchors = [_tensor(r) for r in unit.references] or [face.tensor()]
        mask = region_mask(face, cfg) if unit.method in MASKED else torch.ones(1, 1, cfg.size, cfg.size)
        # 3. protect
        from ..faces.align import tensor_to_crop

        start = time.perf_counter()
        result = engine.protect(face.tensor(), mask, cfg.prompt, anchors, seed=unit.seed)
        seconds = time.perf_counter() - start
        protected = tensor_to_crop(result.image)
        record = {"key": unit.item_key, "seed": unit.seed, "seconds": seconds, "nfe": result.trace.nfe(),
                  "trace": result.trace.to_dict(), "anchors": list(unit.anchors) or ["<self>"],
                  "engine_info": _json_safe({k: v for k, v in result.info.items() if k != "image"})}
        return EvalResult(_png(protected), record)


def _tensor(crop: np.ndarray) -> torch.Tensor:
    from ..faces.align import crop_to_tensor

    return crop_to_tensor(crop)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


class UnitPools:
    """The run's manifest (locked) and one worker pool per resource shape, created on first use."""

    def __init__(self, executor, cfg, out_dir, models: dict | None = None):
        from ..executors import LocalExecutor
        from ..manifest import Manifest

        self.executor = executor or LocalExecutor()
        self.cfg = cfg
        self.models = models  # the driver's loaded models, shared with in-process workers (Ray loads its own)
        self.manifest = Manifest(out_dir).open()
        self._pools: dict[Resources, object] = {}

    def refuse_other_settings(self, digests: dict[str, set[str]]) -> None:
        """``skip_existing`` must not mix crops of other settings into this run (``digests``: method -> hashes)."""
        from ..manifest import refuse_mixed_settings

        for method, current in digests.items():
            refuse_mixed_settings(self.manifest, current, "use a new `--out` folder, or drop `--skip-existing` to "
                                                          "protect every item again.", prefix=f"{method}/")

    def pool(self, method: str):
        from functools import partial

        res = resources_for(method, self.cfg.device)
        if res not in self._pools:
            if self.executor.name == "local" or self.models is None:
                make = partial(EvalWorker, self.cfg, self.models)
            else:  # remote workers load exactly the driver's models (not what happens to be on their node)
                make = partial(EvalWorker, replace(self.cfg, models=tuple(self.models)))
            self._pools[res] = self.executor.pool(make, res)
        return self._pools[res]

    def close(self) -> None:
        for pool in self._pools.values():
            close = getattr(pool, "close", None)
            if close is not None:
                close()
        self._pools = {}
        self.manifest.close()
