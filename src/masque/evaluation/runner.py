"""`evaluate(...)`: protect a dataset with each method and score it against every available FR model.

Steps: 1. models (with weights' checksums)  2. aligned crops of every photo (cached)  3. clean gallery embeddings
4. for each method and protocol run: protect each item (or reuse its saved crop with ``skip_existing``)  5. score
6. write results.json, report.md and grid.png.

Protocol: with several FR models, each is held out in turn and the protection is optimised on the others
(leave-one-out, REFERENCES.md); with a single model the run is *white-box* (optimised and judged on the same
model) and labelled so. In leave-one-out the protected crops are also judged by the models they were optimised on
(``white-box`` runs, with ``held_out``), and ``transfer`` in results.json puts black-box and white-box PSR per model
side by side (`transfer.transfer_summary`). Protection and scoring happen on the aligned generation crops, as in the
literature's pre-aligned datasets; ``clean`` scores the untouched crops (the baseline every PSR is read against).
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import InputError, NoFaceError
from . import metrics
from .baselines import PGDBaseline, PGDConfig
from .datasets import EvalDataset, EvalItem
from .faces import CropCache
from .scoring import Gallery, ProtectedItem, score_run
from .transfer import transfer_summary
from .zoo import load_models

METHODS = ("clean", "masque", "parametric", "pgd", "masked-pgd")
MASKED = ("masque", "parametric", "masked-pgd")  # methods confined to the prompt's face region


@dataclass(frozen=True)
class EvalConfig:
    """What to run; serialised into results.json."""

    methods: tuple[str, ...] = ("clean",)
    models: tuple[str, ...] | None = None  # None: every available registered model
    size: int = 512  # side of the aligned generation crop
    seed: int = 0  # item i is protected with seed + i
    limit: int | None = None
    skip_existing: bool = False
    prompt: str = "red lipstick"
    regions: tuple[str, ...] | None = None  # override of the prompt's regions
    pgd: PGDConfig = field(default_factory=PGDConfig)
    sd_model: str | None = None  # Stable Diffusion folder for the `masque` method
    diffusion_steps: int | None = None  # DDIM steps of `masque` (None: the engine's default, 50)
    parametric_steps: int | None = None  # Adam iterations of `parametric` (None: the engine's default)
    eot: bool = False  # optimise `parametric` under the EOT transforms (alignment jitter, JPEG, ...; for transfer)
    device: str = "cpu"
    detector: str = "hog"
    amplify: float = 10.0  # difference gain in grid.png

    def check(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise InputError(f"`--methods` must be a comma-separated subset of {list(METHODS)}, got "
                             f"{list(self.methods)}.")
        if self.size < 32:
            raise InputError(f"`--size` must be at least 32 px, got {self.size}.")
        if "masque" in self.methods and not self.sd_model:
            from ..engines.diffusion.backbone import MODEL_ENV

            if not os.environ.get(MODEL_ENV):
                raise InputError(f"`--model` is required by the `masque` method (or set ${MODEL_ENV}): pass a Stable "
                                 "Diffusion folder in diffusers layout (`masque models create-tiny DIR` makes a tiny "
                                 "test one).")
        self.pgd.check()


@dataclass(frozen=True)
class Protocol:
    target: str  # the model that judges
    surrogates: tuple[str, ...]  # the models the protection was optimised on
    label: str  # "white-box", "leave-one-out" or "none" (clean)

    @property
    def tag(self) -> str:
        return f"{self.target}__{self.label}"


def protocols_for(method: str, names: Sequence[str]) -> list[Protocol]:
    """One run per judge: clean needs no surrogates; one model -> white-box; several -> leave-one-out."""
    from ..adversarial import select_surrogates

    if method == "clean":
        return [Protocol(n, (), "none") for n in names]
    if len(names) == 1:
        return [Protocol(names[0], (names[0],), "white-box")]
    return [Protocol(target, tuple(select_surrogates(names, black_box=target)[0]), "leave-one-out")
            for target in names]


def build_method(method: str, surrogates: Sequence, cfg: EvalConfig):
    """An `Engine`-shaped object for ``method`` optimised on ``surrogates`` (FaceEmbedders)."""
    if method in ("pgd", "masked-pgd"):
        return PGDBaseline(surrogates, cfg.pgd, masked=method == "masked-pgd")
    from ..engines import create_engine

    if method == "parametric":
        from dataclasses import replace

        from ..adversarial import EOTConfig
        from ..engines.parametric import ParametricConfig

        config = ParametricConfig() if cfg.parametric_steps is None else ParametricConfig(steps=cfg.parametric_steps)
        if cfg.eot:
            config = replace(config, pairwise=replace(config.pairwise, eot=EOTConfig()))
        return create_engine("parametric", embedders=list(surrogates), config=config)
    if method == "masque":
        from ..engines.diffusion import DiffusionConfig, InversionConfig

        config = None
        if cfg.diffusion_steps is not None:
            config = DiffusionConfig(inversion=InversionConfig(num_steps=cfg.diffusion_steps)).validate()
        return create_engine("diffusion", model=cfg.sd_model, embedders=list(surrogates), device=cfg.device,
                             config=config)
    raise InputError(f"`--methods`: {method!r} has no protection engine.")


def region_mask(face, cfg: EvalConfig) -> torch.Tensor:
    from ..faces.regions import RegionMasker, regions_for_prompt

    regions = regions_for_prompt(cfg.prompt, cfg.regions)
    mask = RegionMasker()(face.aligned(), regions)
    return torch.from_numpy(np.asarray(mask, np.float32))[None, None]


def _json_safe(obj):
    """Plain JSON: infinities as "inf", NaN as null, paths as text, arrays/tensors as lists, anything else as text."""
    if isinstance(obj, torch.Tensor | np.ndarray) and np.prod(obj.shape) > 64:
        return f"<array {tuple(obj.shape)}>"  # images and masks do not belong in results.json
    if isinstance(obj, np.generic | torch.Tensor | np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, float) and math.isinf(obj):
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if hasattr(obj, "__dataclass_fields__"):
        return _json_safe(asdict(obj))
    return str(obj)


def _settings(method: str, cfg: EvalConfig, seed: int) -> dict:
    """What a saved protected crop depends on; `--skip-existing` reuses it only when these match."""
    keep = {"size": cfg.size, "seed": seed, "prompt": cfg.prompt, "regions": cfg.regions, "detector": cfg.detector}
    if method in ("pgd", "masked-pgd"):
        keep["pgd"] = asdict(cfg.pgd)
    elif method == "masque":
        keep |= {"sd_model": cfg.sd_model, "steps": cfg.diffusion_steps}
    elif method == "parametric":
        keep["steps"] = cfg.parametric_steps
        keep["eot"] = cfg.eot
    return _json_safe(keep)


def _digest(method: str, proto: Protocol, cfg: EvalConfig) -> str:
    """The manifest's settings hash of one (method, protocol) run (item seeds are cfg.seed + index)."""
    from ..manifest import settings_hash

    return settings_hash({**_settings(method, cfg, cfg.seed), "surrogates": list(proto.surrogates)})


def _protect_items(method: str, proto: Protocol, pool, items: list[EvalItem], cache: CropCache,
                   cfg: EvalConfig, out_dir: Path, manifest, log: Callable[[str], None]) -> list[ProtectedItem]:
    """Protect each item (or reuse the crop the manifest records, with ``skip_existing``) on the executor's
    ``pool``; the driver writes each returned crop and its record as it arrives (`evaluation.units`)."""
    from PIL import Image

    from ..errors import MasqueError
    from ..manifest import Record
    from .units import EvalUnit

    folder = Path("protected") / method / proto.tag
    digest = _digest(method, proto, cfg)
    probes: dict[int, ProtectedItem] = {}
    units = []
    for i, item in enumerate(items):
        face, seed = cache.get(item.source), cfg.seed + i
        key = f"{method}/{proto.tag}/{item.key}"
        png, meta = folder / f"{item.key}.png", folder / f"{item.key}.json"
        if cfg.skip_existing and manifest.finished(key, digest) is not None:
            record = {**json.loads((out_dir / meta).read_text()), "resumed": True}
            probes[i] = ProtectedItem(item, face.crop, np.asarray(Image.open(out_dir / png).convert("RGB")), record)
            continue
        units.append(EvalUnit(method, proto, item.key, i, seed, face, tuple(cache.get(r).crop for r in item.references),
                              tuple(str(r) for r in item.references)))
    for unit, outcome in pool.map(units):
        if outcome.status != "done":
            raise MasqueError(f"{method} [{proto.tag}] {unit.item_key}: {outcome.reason}")
        item = items[unit.index]
        png, meta = folder / f"{item.key}.png", folder / f"{item.key}.json"
        record = {**outcome.value.record, "settings": _settings(method, cfg, unit.seed), "protected_path": str(png)}
        files = manifest.write_files({str(png): outcome.value.png,
                                      str(meta): json.dumps(_json_safe(record), indent=1).encode()})
        verdicts = {k: v for k, v in record["engine_info"].items() if k.startswith("similarity")}
        manifest.append(Record(unit.key, digest, unit.seed, files, verdicts=verdicts))
        protected = np.asarray(Image.open(io.BytesIO(outcome.value.png)).convert("RGB"))
        probes[unit.index] = ProtectedItem(item, unit.face.crop, protected, {**record, "resumed": False})
        log(f"{method} [{proto.tag}] {item.key}: {record['seconds']:.1f}s")
    return [probes[i] for i in range(len(items))]


def evaluate(dataset: EvalDataset, cfg: EvalConfig, out_dir: str | Path, *, command: Sequence[str] | None = None,
             log: Callable[[str], None] = lambda msg: None, executor=None) -> dict:
    """Run the evaluation and write results.json, report.md and grid.png into ``out_dir``; returns the results.

    ``executor`` (`masque.executors`, default local) runs the protection units; results are the same on each.
    """
    from .report import write_grid, write_report
    from .units import UnitPools

    cfg.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = dataset.limited(cfg.limit)
    torch.manual_seed(cfg.seed)
    # 1. models
    models, records = load_models(cfg.models, device=cfg.device)
    names = list(models)
    # 2. aligned crops of every photo (photos without a face are reported and left out)
    cache = CropCache(out_dir / "crops", cfg.size, cfg.detector)
    skipped: dict[str, str] = {}
    for path in dataset.photos():
        try:
            cache.get(path)
        except NoFaceError as exc:
            skipped[str(path)] = str(exc)
    items = [it for it in dataset.items if str(it.source) not in skipped]
    items = [EvalItem(it.identity, it.source, tuple(r for r in it.references if str(r) not in skipped))
             for it in items]
    gal_paths = [p for p in dataset.photos() if str(p) not in skipped]
    # 3. clean gallery embeddings
    crops = [cache.get(p).crop for p in gal_paths]
    gallery = Gallery(gal_paths, [dataset.gallery[p] for p in gal_paths], crops,
                      {n: metrics.embed_crops(m, crops) for n, m in models.items()})
    quality_status = metrics.optional_metric_status()
    by_name = {r.name: r for r in records}
    # 4-5. protect (units on the executor's workers, resumable through the manifest) and score
    units = UnitPools(executor, cfg, out_dir, models)
    if cfg.skip_existing:
        units.refuse_other_settings({m: {_digest(m, p, cfg) for p in protocols_for(m, names)}
                                     for m in cfg.methods if m != "clean"})
    runs, grids = [], {}
    for method in cfg.methods:
        for proto in protocols_for(method, names):
            if method == "clean":
                probes = [ProtectedItem(it, cache.get(it.source).crop, cache.get(it.source).crop,
                                        {"key": it.key, "seed": None, "seconds": 0.0, "nfe": 0, "resumed": False})
                          for it in items]
            else:
                probes = _protect_items(method, proto, units.pool(method), items, cache, cfg, out_dir,
                                        units.manifest, log)
            grids[f"{method}__{proto.tag}"] = [(p.original, p.protected) for p in probes]
            rec = by_name[proto.target]
            scored = score_run(models[proto.target], rec.thresholds, rec.primary, gallery, probes, quality_status)
            runs.append({"method": method, "target": proto.target, "surrogates": list(proto.surrogates),
                         "protocol": proto.label, **scored})
            v = scored["verification"][rec.primary]["psr"]
            log(f"{method} -> {proto.target} ({proto.label}): verification PSR@{rec.primary} = {v}")
            if proto.label == "leave-one-out":  # the same crops judged by the models they were optimised against
                for name in proto.surrogates:
                    r = by_name[name]
                    runs.append({"method": method, "target": name, "surrogates": list(proto.surrogates),
                                 "protocol": "white-box", "held_out": proto.target,
                                 **score_run(models[name], r.thresholds, r.primary, gallery, probes, quality_status)})
    units.close()
    # 6. outputs
    results = {
        "masque_version": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": torch.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": list(command) if command is not None else None,
        "config": asdict(cfg), "seed": cfg.seed, "dataset": dataset.to_dict(),
        "models": [r.to_dict() for r in records], "skipped_photos": skipped,
        "gallery": [{"path": str(p), "identity": i} for p, i in zip(gallery.paths, gallery.identities, strict=True)],
        "runs": runs, "transfer": transfer_summary(runs),
    }
    results = _json_safe(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, out_dir / "report.md")
    for tag, rows in grids.items():
        write_grid(out_dir / "grids" / f"{tag}.png", rows, cfg.amplify)
    protected_runs = [tag for tag in grids if not tag.startswith("clean__")]
    first = protected_runs[0] if protected_runs else next(iter(grids), None)
    write_grid(out_dir / "grid.png", grids.get(first, []), cfg.amplify)
    return results
