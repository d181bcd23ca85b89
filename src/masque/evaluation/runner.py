"""`evaluate(...)`: protect a dataset with each method and score it against every available FR model.

Steps: 1. models (with weights' checksums)  2. aligned crops of every photo (cached)  3. clean gallery embeddings
4. for each method and protocol run: protect each item (or reuse its saved crop with ``skip_existing``)  5. score
6. write results.json, report.md and grid.png.

Protocol: with several FR models, each is held out in turn and the protection is optimised on the others
(leave-one-out, docs/protocol.md); with a single model the run is *white-box* (optimised and judged on the same
model) and labelled so. Each item is protected exactly as `masque protect` protects a photo (`FacePipeline`: the same
masker with the face parser when imported, per-region masks, the engine's own crop size, paste-back into the photo,
the judges' verdict on the written photo, recorded per item); the literature's scores are then computed on aligned
generation crops of ``size`` px cut from the protected photo with the original's alignment, as in pre-aligned
datasets. In leave-one-out the protected crops are also judged by the models they were optimised on
(``white-box`` runs, with ``held_out``), and ``transfer`` in results.json puts black-box and white-box PSR per model
side by side (`transfer.transfer_summary`). ``clean`` scores the untouched crops (the baseline every PSR is read
against).
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
from ..engines.catalog import EngineEntry, engine_entry, engine_names
from ..errors import InputError, NoFaceError
from ..io import read_image, write_image
from ..pipeline import FacePipeline, Judge, PhotoResult, Preparer
from ..pipeline.prepare import default_masker
from . import metrics
from .baselines import PGDBaseline, PGDConfig
from .datasets import EvalDataset, EvalItem
from .faces import CropCache
from .scoring import Gallery, ProtectedItem, score_run
from .transfer import transfer_summary
from .units import EvalResult, EvalUnit, UnitPools
from .zoo import load_models

# Methods: the registered engines (the diffusion engine also under the paper's name, "masque") and the baselines.
ENGINE_METHODS = {**{name: name for name in engine_names()}, "masque": "diffusion"}
BASELINES = ("pgd", "masked-pgd")
METHODS = ("clean", *ENGINE_METHODS, *BASELINES)


def method_engine(method: str) -> EngineEntry | None:
    """The catalog entry of ``method``'s engine (what it needs: weights, a GPU); None for clean and the baselines."""
    return engine_entry(ENGINE_METHODS.get(method, ""))


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
    eot: bool = False  # optimise the engine methods under the EOT transforms (alignment jitter, JPEG, ...; transfer)
    device: str = "cpu"
    detector: str = "hog"
    amplify: float = 10.0  # difference gain in grid.png

    def engine_steps(self, engine: str) -> int | None:
        """The steps setting of ``engine``'s method (DDIM steps or Adam iterations; None: its default)."""
        return {"diffusion": self.diffusion_steps, "parametric": self.parametric_steps}.get(engine)

    def check(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise InputError(field="methods", rule=f"must be a comma-separated subset of {list(METHODS)}, got "
                             f"{list(self.methods)}.")
        if self.size < 32:
            raise InputError(field="size", rule=f"must be at least 32 px, got {self.size}.")
        if any(e is not None and e.weights for e in map(method_engine, self.methods)) and not self.sd_model:
            from ..engines.diffusion.backbone import MODEL_ENV

            if not os.environ.get(MODEL_ENV):
                raise InputError(field="model", rule=f"is required by the `masque` method (or set ${MODEL_ENV})",
                                 hint="pass a Stable Diffusion folder in diffusers layout (`masque models create-tiny "
                                      "DIR` makes a tiny test one)")
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
    """An `Engine` for ``method`` optimised on ``surrogates`` (FaceEmbedders), built through the engine registry."""
    if method in BASELINES:
        return PGDBaseline(surrogates, cfg.pgd, masked=method == "masked-pgd")
    if method not in ENGINE_METHODS:
        raise InputError(field="methods", value=method, rule=f"{method!r} has no protection engine")
    from ..engines import EngineOptions, create_engine, engine_kwargs

    name = ENGINE_METHODS[method]
    options = EngineOptions(steps=cfg.engine_steps(name), model=cfg.sd_model if method_engine(method).weights else None,
                            device=cfg.device, eot=cfg.eot)
    return create_engine(name, embedders=list(surrogates), **engine_kwargs(name, options))


def method_pipeline(method: str, proto: Protocol, models: dict, cfg: EvalConfig) -> FacePipeline:
    """What `masque protect` runs, for one method and protocol: the same masker (face parser when imported),
    per-region masks, the engine's crop size, and the judges (surrogates marked, the rest held out, dlib-bin)."""
    engine = build_method(method, [models[s] for s in proto.surrogates], cfg)
    preparer = Preparer(engine, cfg.prompt, region=cfg.regions, masker=default_masker(device=cfg.device),
                        detector=cfg.detector, whole_crop=method == "pgd")
    return FacePipeline(preparer, Judge(list(models.values()), proto.surrogates), faces="largest")


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
    """What a saved protection depends on; `--skip-existing` reuses it only when these match."""
    keep = {"size": cfg.size, "seed": seed, "prompt": cfg.prompt, "regions": cfg.regions, "detector": cfg.detector}
    if method in BASELINES:
        keep["pgd"] = asdict(cfg.pgd)
    elif method in ENGINE_METHODS:
        name = ENGINE_METHODS[method]
        keep |= ({"sd_model": cfg.sd_model} if method_engine(method).weights else {}) | {
            "steps": cfg.engine_steps(name), "eot": cfg.eot}
    return _json_safe(keep)


def _digest(method: str, proto: Protocol, cfg: EvalConfig) -> str:
    """The manifest's settings hash of one (method, protocol) run (item seeds are cfg.seed + index)."""
    from ..manifest import settings_hash

    return settings_hash({**_settings(method, cfg, cfg.seed), "surrogates": list(proto.surrogates)})


def _protect_items(method: str, proto: Protocol, pool, items: list[EvalItem], cache: CropCache,
                   cfg: EvalConfig, out_dir: Path, manifest, log: Callable[[str], None]) -> list[ProtectedItem]:
    """Protect each item's photo on the executor's ``pool`` (`evaluation.units`: the shipped pipeline, pair photos =
    the item's references), or reuse what the manifest records with ``skip_existing``; the driver writes each
    returned photo, its scoring crop (cut with the original's alignment) and record as they arrive."""
    from PIL import Image

    from ..errors import MasqueError
    from ..manifest import Record

    folder = Path("protected") / method / proto.tag
    digest = _digest(method, proto, cfg)
    probes: dict[int, ProtectedItem] = {}
    units = []
    for i, item in enumerate(items):
        key = f"{method}/{proto.tag}/{item.key}"
        png, meta = folder / f"{item.key}.png", folder / f"{item.key}.json"
        if cfg.skip_existing and manifest.finished(key, digest) is not None:
            record = {**json.loads((out_dir / meta).read_text()), "resumed": True}
            protected = np.asarray(Image.open(out_dir / png).convert("RGB"))
            probes[i] = ProtectedItem(item, cache.get(item.source).crop, protected, record)
            continue
        units.append(EvalUnit.of(method, proto, item, i, cfg.seed + i))
    for unit, outcome in pool.map(units):
        if outcome.status != "done":
            raise MasqueError(f"{method} [{proto.tag}] {unit.item_key}: {outcome.reason}")
        item, face = items[unit.index], cache.get(items[unit.index].source)
        png, meta = folder / f"{item.key}.png", folder / f"{item.key}.json"
        photo_out = folder / f"{item.key}.photo{Path(item.source).suffix.lower()}"  # the source's format, as shipped
        sums = manifest.write_files({str(photo_out): outcome.value.photo})
        protected = face.recrop(read_image(out_dir / photo_out).rgb)  # the scoring crop, with the original's alignment
        record = {"key": item.key, "seed": unit.seed, "settings": _settings(method, cfg, unit.seed),
                  **outcome.value.record, "anchors": [str(r) for r in item.references] or ["<self>"],
                  "protected_path": str(png), "protected_photo_path": str(photo_out)}
        sums |= manifest.write_files({str(png): _png(protected),
                                      str(meta): json.dumps(_json_safe(record), indent=1).encode()})
        verdicts = {"status": record["status"], "similarity_after": record["similarity_after"]}
        manifest.append(Record(unit.key, digest, unit.seed, sums, verdicts=_json_safe(verdicts)))
        probes[unit.index] = ProtectedItem(item, face.crop, protected, {**record, "resumed": False})
        log(f"{method} [{proto.tag}] {item.key}: {record['seconds']:.1f}s, {record['status']}")
    return [probes[i] for i in range(len(items))]


def unit_resources(method: str, cfg: EvalConfig):
    """What a worker of ``method`` asks: an engine whose catalog entry asks a GPU gets one (unless on the CPU); PGD
    and the fast engine a CPU."""
    from ..executors import Resources

    engine = method_engine(method)
    gpu = engine is not None and engine.gpu and cfg.device != "cpu"
    return Resources(num_cpus=1.0, num_gpus=1.0 if gpu else 0.0)


def protect_unit(worker, unit) -> EvalResult:
    """The unit function every executor runs: one item's photo through the method's pipeline, in a scratch folder
    (``worker``: an `EvalWorker` holding the models and the pipelines built so far)."""
    import tempfile

    # 1. the method's pipeline, optimised on the protocol's surrogates
    ident = (unit.method, tuple(unit.protocol.surrogates))
    if ident not in worker.pipelines:
        worker.pipelines[ident] = method_pipeline(unit.method, unit.protocol, worker.models, worker.cfg)
    # 2. the item's files in a scratch folder (same names: the anchors are labelled by them)
    with tempfile.TemporaryDirectory(prefix="masque-unit-") as tmp:
        tmp = Path(tmp)
        source = tmp / unit.photo[0]
        source.write_bytes(unit.photo[1])
        refs = []
        for i, (name, data) in enumerate(unit.references):
            refs.append(tmp / "refs" / str(i) / name)
            refs[-1].parent.mkdir(parents=True)
            refs[-1].write_bytes(data)
        out = tmp / "out" / f"protected{source.suffix.lower()}"
        out.parent.mkdir()
        # 3. protect, write and judge exactly as `masque protect` does
        start = time.perf_counter()
        run = _run_item(worker.pipelines[ident], EvalItem(unit.identity, source, tuple(refs)), unit.seed, out)
        seconds = time.perf_counter() - start
        (outcome,) = run.faces
        record = {"seconds": seconds, "nfe": run.trace.nfe(), "trace": run.trace.to_dict(),
                  "timings": run.times.to_dict(), "verdict": outcome.verdict.to_dict(),
                  "status": outcome.verdict.status, "similarity_before": outcome.result.similarity_before,
                  "similarity_after": outcome.result.similarity_after,
                  "engine_info": _json_safe(outcome.result.details)}
        return EvalResult(out.read_bytes(), _json_safe(record))


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _run_item(pipe: FacePipeline, item: EvalItem, seed: int, out: Path) -> PhotoResult:
    """One item through the shipped pipeline (its references are the pair photos), written like `masque protect`
    writes (the source's format, metadata stripped) and judged on what was written."""
    image = read_image(item.source)

    def write(rgb: np.ndarray) -> np.ndarray:
        write_image(out, rgb, like=image)
        return read_image(out).rgb

    pairs = [(Path(r).name, read_image(r).rgb) for r in item.references]
    return pipe.run(image.rgb, pairs, seed=seed, write=write)


def evaluate(dataset: EvalDataset, cfg: EvalConfig, out_dir: str | Path, *, command: Sequence[str] | None = None,
             log: Callable[[str], None] = lambda msg: None, executor=None) -> dict:
    """Run the evaluation and write results.json, report.md and grid.png into ``out_dir``; returns the results.

    ``executor`` (`masque.executors`, default local) runs the protection units; results are the same on each.
    """
    cfg.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = dataset.limited(cfg.limit)
    # 1. models
    models, records = load_models(cfg.models, device=cfg.device)
    names = list(models)
    # 2. aligned crops of every photo (photos without a face are reported and left out)
    cache = CropCache(out_dir / "crops", cfg.size, cfg.detector)
    items, gal_paths, skipped = _with_faces(dataset, cache)
    # 3. clean gallery embeddings
    crops = [cache.get(p).crop for p in gal_paths]
    gallery = Gallery(gal_paths, [dataset.gallery[p] for p in gal_paths], crops,
                      {n: metrics.embed_crops(m, crops) for n, m in models.items()})
    quality_status = metrics.optional_metric_status()
    by_name = {r.name: r for r in records}
    # 4-5. protect (units on the executor's workers, resumable through the manifest) and score
    units = UnitPools(executor, cfg, out_dir, protect_unit, models)
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
                probes = _protect_items(method, proto, units.pool(unit_resources(method, cfg)), items, cache,
                                        cfg, out_dir, units.manifest, log)
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
    _write_outputs(results, grids, out_dir, cfg.amplify)
    return results


def _with_faces(dataset: EvalDataset, cache: CropCache) -> tuple[list[EvalItem], list[Path], dict[str, str]]:
    """The items and gallery photos that have a face (their crops cached), and why each other photo was left out."""
    skipped: dict[str, str] = {}
    for path in dataset.photos():
        try:
            cache.get(path)
        except NoFaceError as exc:
            skipped[str(path)] = str(exc)
    items = [EvalItem(it.identity, it.source, tuple(r for r in it.references if str(r) not in skipped))
             for it in dataset.items if str(it.source) not in skipped]
    return items, [p for p in dataset.photos() if str(p) not in skipped], skipped


def _write_outputs(results: dict, grids: dict, out_dir: Path, amplify: float) -> None:
    """results.json (atomically), report.md and the before/after grids: one per run, the first protected one as
    grid.png."""
    from ..atomic import write_atomic
    from .report import write_grid, write_report

    write_atomic(out_dir / "results.json", json.dumps(results, indent=1))
    write_report(results, out_dir / "report.md")
    for tag, rows in grids.items():
        write_grid(out_dir / "grids" / f"{tag}.png", rows, amplify)
    protected_runs = [tag for tag in grids if not tag.startswith("clean__")]
    first = protected_runs[0] if protected_runs else next(iter(grids), None)
    write_grid(out_dir / "grid.png", grids.get(first, []), amplify)
