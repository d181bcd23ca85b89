"""Protect real photos end to end (ARCHITECTURE.md, "The one path of a photo"), through the one per-face pipeline:

    read → detect → prepare FaceJobs (crop, region masks, plan, anchor embeddings, seed) → engine.protect(job)
    → paste back (pixels outside the mask untouched) → write atomically → judge the written file → JSON sidecar.

`Protector` holds the loaded engine, FR models and judges so a batch (or a web server) pays for loading once;
`protect()` is the one-call form.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .atomic import write_atomic
from .embedders import FaceEmbedder, create_embedder, present_embedders
from .engines.auto import EngineChoice, build_engine, choose_engine
from .errors import InputError, MasqueError, WeightsError
from .io import (
    DEFAULT_MAX_PIXELS,
    OutputFormatWarning,
    check_output_path,
    default_output_path,
    read_image,
    read_mask,
    write_image,
)
from .pipeline import FacePipeline, FaceVerdict, Judge, PhotoResult, Preparer, summarise
from .pipeline.escalate import DEFAULT_HELD_OUT, Escalation, HeldOut, held_out_model, ladder
from .pipeline.prepare import default_masker, resolve_parser
from .pipeline.run import sidecar_path
from .pipeline.verdict import weak_protection_hint  # noqa: F401  (re-exported: the CLI and the web page use it)
from .prefetch import DetectionPrefetch
from .run_config import ProtectConfig
from .trace import CostTrace, StageTimes

ProgressCallback = Callable[[str, int, int], None]


def load_embedders(names: Sequence[str] | None, device: str = "cpu") -> list[FaceEmbedder]:
    """``names=None``: every model whose weights are present (checked on disk before anything is built);
    otherwise exactly these (missing weights raise `WeightsError`)."""
    if names is None:
        names = present_embedders()
        if not names:
            raise WeightsError("no face-recognition model is available; run `masque models list` to see what to get.")
    return [create_embedder(n, device=device) for n in names]


@dataclass
class FaceReport:
    """One protected face: what the engine did on its crop and the judges' verdict on the written photo."""

    index: int
    box: list[int] | None
    anchor: str  # "pair:<file>" or "self" (single mode)
    mask_fraction: float
    similarity_before: dict[str, float]  # the engine's surrogates on the crop (mean cosine to the anchors)
    similarity_after: dict[str, float]
    engine: dict  # the engine's details (settings, shades, iterations, ...)
    verdict: FaceVerdict | None
    bare_regions: dict[str, str] = field(default_factory=dict)  # region -> why it was left bare (covered)
    occlusion: dict | None = None  # what `faces.occlusion` saw per region
    escalation: Escalation | None = None  # `until_protected`: the levels tried and the status at each

    @property
    def status(self) -> str | None:
        return self.verdict.status if self.verdict is not None else None

    def to_dict(self) -> dict:
        return {"index": self.index, "box": self.box, "anchor": self.anchor, "mask_fraction": self.mask_fraction,
                "similarity_before": self.similarity_before, "similarity_after": self.similarity_after,
                "status": self.status, "verdict": self.verdict.to_dict() if self.verdict is not None else None,
                "bare_regions": self.bare_regions, "occlusion": self.occlusion,
                **(self.escalation.to_dict() if self.escalation is not None else {}), "engine": self.engine}


@dataclass
class ProtectReport:
    """What one protected photo's sidecar says: `to_json` is the one place its layout is written (a batch sets its
    typed fields, e.g. ``batch`` and the user's paths, never edits the JSON)."""

    input: Path
    output: Path
    sidecar: Path
    faces_found: int
    faces: list[FaceReport]
    settings: dict
    trace: CostTrace
    seconds: float
    times: StageTimes = field(default_factory=StageTimes)
    possibly_missed: list = field(default_factory=list)  # (box, score): near misses of the detector, not protected
    pairs: list[Path] = field(default_factory=list)  # the pair photos (anchors), as the user named them
    batch: dict | None = None  # a batch's record of the unit: settings hash, input checksums, seed, verdicts

    @property
    def verdicts(self) -> list[FaceVerdict]:
        return [f.verdict for f in self.faces if f.verdict is not None]

    @property
    def summary(self) -> dict:
        return summarise(self.faces_found, self.verdicts)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_dict(self) -> dict:
        summary = self.summary
        return {
            "masque_version": __version__,
            "input": str(self.input),
            "output": str(self.output),
            "faces_found": self.faces_found,
            "faces_protected": summary["protected"],
            "faces_possibly_missed": [{"box": list(b), "score": round(s, 3)} for b, s in self.possibly_missed],
            "summary": summary,
            "faces": [f.to_dict() for f in self.faces],
            "settings": {**self.settings, "pair": [str(p) for p in self.pairs]},
            "cost": self.trace.to_dict(),
            "timings": self.times.to_dict(),
            "seconds": round(self.seconds, 3),
        } | ({"batch": self.batch} if self.batch is not None else {})


def _config_dict(config) -> dict | None:
    """The engine's frozen config as plain data (every engine config is a dataclass, `Engine.config`)."""
    return asdict(config) if is_dataclass(config) else None


class Protector:
    """A loaded engine, its FR surrogates, the masker and the judges, reused across photos.

    ``engine_options`` go to the engine factory (`masque.engines.engine_kwargs` maps user flags onto them:
    ``config=`` the engine's frozen config, ``model=`` the SD weights of the diffusion engine, ...). ``judges``: the
    FR models that judge the result (default: every present model; those not among the surrogates are held out),
    plus dlib-bin on the written photo unless ``dlib_bin=False``. A pair photo that most judges do not match with its
    face before protection (another person) is skipped, with a `masque.errors.UserNote`, unless ``force_pair``.

    ``until_protected``: escalate each face that is not protected from the engine's strength up to ``max_strength``
    (default the strongest, `masque.pipeline.escalate`); without named ``surrogates`` one present model is then held
    out of the optimisation (`held_out_model`: the first present of ``held_out``, by default
    `escalate.DEFAULT_HELD_OUT`, sface first; the sidecar says which and why), so a model the makeup never saw must
    stop matching too.

    Its settings are a `ProtectConfig` (``config``; the front ends build it with `from_config`), which every sidecar
    stores so that `from_sidecar` reruns the same settings; built from raw engine configs (``engine_options``: tests,
    benchmarks' ``--set``), ``config`` is None.
    """

    def __init__(self, prompt: str, *, engine: str = "auto", surrogates: Sequence[str] | None = None,
                 region: str | Sequence[str] | None = None, faces: str | int = "all", detector: str = "auto",
                 face_scale: float = 0.8, parser: str | Path | None = None, seed: int = 0, device: str = "cpu",
                 keep_metadata: bool = False, overwrite: bool = False, engine_options: dict | None = None,
                 judges: Sequence[str] | None = None, dlib_bin: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS, engine_choice: EngineChoice | None = None,
                 force_pair: bool = False, until_protected: bool = False, max_strength: str | None = None,
                 held_out: Sequence[str] = DEFAULT_HELD_OUT):
        from .engines.base import check_prompt, config_level

        # 1. validate cheap things before loading anything heavy
        self.seed, self.device = seed, device
        self.model = (engine_options or {}).get("model")  # SD weights asked for (the resolved id: the face's details)
        self.keep_metadata, self.overwrite, self.max_pixels = keep_metadata, overwrite, max_pixels
        # "auto": diffusion when SD weights are present locally, else parametric (a file check, no network)
        choice = engine_choice or choose_engine(engine, (engine_options or {}).get("model"))
        check_prompt(choice.name, prompt, region, engine_options)  # the engine's own plan, before its weights load
        if max_strength is not None and not until_protected:
            raise InputError(field="max_strength", value=max_strength, audience="api",
                             rule=lambda n: f"caps {n.until_protected}",
                             hint={"cli": "add `--until-protected` or drop it", "web": "choose 'protect until it "
                                   "holds' or leave the strength alone", "api": "pass `until_protected=True` or drop "
                                   "it"})
        self.until = (ladder(config_level(choice.name, (engine_options or {}).get("config")), max_strength)
                      if until_protected else None)
        self.held_out: HeldOut | None = None
        given_surrogates = surrogates
        if until_protected and surrogates is None:  # leave-one-out: a present model the makeup is not fitted to
            present = present_embedders()
            self.held_out = held_out_model(present, held_out)
            if self.held_out is not None:
                surrogates = [n for n in present if n != self.held_out.model]
        self.load_times = StageTimes()
        # 2. load models once: surrogates, engine, judges (a judge that is also a surrogate is the same instance)
        with self.load_times("load"):
            self.embedders = load_embedders(surrogates, device)
            self.engine, self.engine_choice = build_engine(choice, self.embedders, engine_options or {})
            self.engine_name = self.engine_choice.name
            loaded = {m.name: m for m in self.embedders}
            judge_names = present_embedders() if judges is None else list(judges)
            models = [loaded.get(n) or create_embedder(n, device=device) for n in judge_names]
            models += [m for m in self.embedders if m.name not in judge_names and judges is None]
            self.parser = resolve_parser(parser)
            masker = default_masker(self.parser, device)
        self.pipeline = FacePipeline(
            Preparer(self.engine, prompt, region=region, masker=masker, detector=detector, face_scale=face_scale),
            Judge(models, surrogates=loaded, dlib_bin=dlib_bin), faces, force_pair=force_pair)
        self.detector, self.faces, self.face_scale = detector, faces, face_scale
        # what the sidecar stores to rerun the run: these arguments, when the engine knobs are its defaults (else
        # set by `from_config`, or unknown: raw engine configs are no front-end settings)
        self.config: ProtectConfig | None = None if engine_options else ProtectConfig(
            prompt, engine=engine, surrogates=given_surrogates, region=region, faces=faces, detector=detector,
            face_scale=face_scale, parser=parser, seed=seed, judges=judges, dlib_bin=dlib_bin,
            keep_metadata=keep_metadata, max_pixels=max_pixels, force_pair=force_pair,
            until_protected=until_protected, max_strength=max_strength, held_out=held_out)

    @classmethod
    def from_config(cls, config: ProtectConfig, *, device: str = "cpu", overwrite: bool = False,
                    engine_choice: EngineChoice | None = None) -> Protector:
        """The run ``config`` describes, on ``device``; its engine knobs go through the engine's options mapper, as
        the CLI's flags do. The sidecar of every photo it protects stores ``config`` (`from_sidecar`)."""
        from dataclasses import replace

        from .engines.base import engine_kwargs

        choice = engine_choice or choose_engine(config.engine, config.options.model)
        options = engine_kwargs(choice.name, replace(config.options, device=device))
        protector = cls(config.prompt, **config.protector_kwargs(), device=device, overwrite=overwrite,
                        engine_options=options, engine_choice=choice)
        protector.config = config
        return protector

    @classmethod
    def from_sidecar(cls, sidecar: str | Path, *, device: str = "cpu", overwrite: bool = False) -> Protector:
        """The run that wrote ``sidecar`` (a protected photo's JSON), to protect again with the same settings: its
        stored `ProtectConfig`, with the engine that ran (so `auto` does not choose differently on another
        machine)."""
        try:
            settings = json.loads(Path(sidecar).read_text())["settings"]
            stored = settings["config"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(field="sidecar", value=sidecar, rule=f"{str(sidecar)!r} holds no run configuration "
                             f"({type(exc).__name__}: {exc})", hint="use the JSON written beside a protected photo "
                             "by this version of MASQUE") from None
        if stored is None:
            raise InputError(field="sidecar", value=sidecar, rule=f"{str(sidecar)!r} comes from a run built from "
                             "engine configs, not a `ProtectConfig`", hint="rebuild that run the way it was made")
        from dataclasses import replace

        return cls.from_config(replace(ProtectConfig.from_dict(stored), engine=settings["engine"]), device=device,
                               overwrite=overwrite)

    @property
    def prompt(self) -> str:
        return self.pipeline.preparer.prompt

    @property
    def regions(self) -> tuple[str, ...]:
        return self.pipeline.preparer.regions

    @property
    def crop_size(self) -> int:
        return int(self.engine.crop_size)

    @property
    def settings(self) -> dict:
        return {"engine": self.engine_name, "engine_requested": self.engine_choice.requested,
                "engine_reason": self.engine_choice.reason, "prompt": self.prompt, "regions": list(self.regions),
                "plan": self.pipeline.preparer.plan.to_dict(),
                "seed": self.seed,
                "surrogates": [m.name for m in self.embedders], "judges": self.pipeline.judge.names,
                "faces": self.faces, "detector": self.detector, "face_scale": self.face_scale,
                "parser": str(self.parser) if self.parser else None, "crop_size": self.crop_size,
                "device": self.device, "engine_config": _config_dict(self.engine.config),
                "model": self.model, "config": self.config.to_dict() if self.config is not None else None,
                **({"until_protected": {"levels": list(self.until), "max_strength": self.until[-1],
                                        "held_out": [m.name for m in self.pipeline.judge.models
                                                     if m.name not in self.pipeline.judge.surrogates],
                                        "held_out_by_rule": [self.held_out.model] if self.held_out else [],
                                        **({"held_out_rule": self.held_out.to_dict()} if self.held_out else {})}}
                   if self.until else {})}

    def with_prompt(self, prompt: str, region: str | Sequence[str] | None = None,
                    detector: str | None = None) -> Protector:
        """The same loaded engine, FR models, masker and judges for another makeup prompt (no reload).

        A server taking a new prompt per request shares one loaded Protector. Not for concurrent use: callers
        serialise runs.
        """
        other = object.__new__(Protector)
        other.__dict__.update(self.__dict__)
        other.pipeline = self.pipeline.with_prompt(prompt, region, detector)
        other.detector = detector or self.detector
        if self.config is not None:
            from dataclasses import replace

            other.config = replace(self.config, prompt=prompt, region=region, detector=other.detector)
        other.load_times = StageTimes()  # loading was paid by the first
        return other

    def _plan_outputs(self, photo: Path, out: Path | None, inputs: Sequence[Path] = ()) -> tuple[Path, Path]:
        out = Path(out) if out is not None else default_output_path(photo)
        side = sidecar_path(out)
        for p in (out, side):
            check_output_path(p, inputs=[photo, *inputs], name="out")
        for p in (out, side):
            if p.exists() and not self.overwrite:
                raise InputError(field="out", value=p, audience="api", rule=f"{str(p)!r} already exists",
                                 hint=lambda n: f"pass {n.overwrite} or choose another path")
        return out, side

    # -- the run ------------------------------------------------------------------------------------------------
    def protect_photo(
        self,
        photo: str | Path,
        *,
        out: str | Path | None = None,
        pair: Sequence[str | Path] = (),
        mask: str | Path | np.ndarray | None = None,
        aligned: bool = False,
        progress: ProgressCallback | None = None,
        prefetch: DetectionPrefetch | None = None,
    ) -> ProtectReport:
        """Protect every selected face of ``photo`` (or the whole image when ``aligned``), write it and judge it.

        ``aligned=True`` (implied by ``mask``) treats the photo as an already aligned face crop: no detection,
        the mask (same size as the photo) defaults to the whole crop. ``pair``: other photos of the same person,
        the anchors of the pairwise objective; without them the face is pushed away from itself (single mode).
        ``prefetch``: this photo's detection started before the models loaded (used only if it saw the same pixels).
        """
        start = time.perf_counter()
        times, self.load_times = self.load_times, StageTimes()  # the first photo carries the loading time
        # 1. inputs and output paths (fail before any heavy work)
        photo = Path(photo)
        with times("read"):
            image = read_image(photo, max_pixels=self.max_pixels)
            pairs = [read_image(p, max_pixels=self.max_pixels) for p in pair]
        out_path, side_path = self._plan_outputs(photo, out, [Path(p) for p in pair] +
                                                 ([Path(mask)] if isinstance(mask, (str, Path)) else []))
        aligned = aligned or mask is not None
        mask_arr = read_mask(mask, image.rgb.shape[:2]) if mask is not None else None

        def write(rgb: np.ndarray, path: Path = out_path) -> np.ndarray:
            write_image(path, rgb, like=image, keep_metadata=self.keep_metadata)
            return read_image(path).rgb  # the judges read what a recipient will

        def look(rgb: np.ndarray) -> np.ndarray:
            """What ``write`` would give back, through the same writer and reader into a scratch file: an
            escalation step is judged on the pixels that would ship (JPEG-quantised) without touching the output."""
            with tempfile.TemporaryDirectory(prefix="masque-look-") as scratch, warnings.catch_warnings():
                warnings.simplefilter("ignore", OutputFormatWarning)  # said once, by the real write
                return write(rgb, Path(scratch) / out_path.name)

        # 2. prepare → engine → paste back → write → judge
        detection = None
        if prefetch is not None:
            with times("detect"):
                detection = None if aligned else prefetch.result(image.rgb)
        run: PhotoResult = self.pipeline.run(image.rgb, [(p.path.name, p.rgb) for p in pairs], seed=self.seed,
                                             aligned=aligned, mask=mask_arr, write=write, progress=progress,
                                             times=times, detection=detection, until=self.until, look=look)
        # 3. the sidecar (atomic)
        reports = [FaceReport(
            index=o.job.index, box=[int(v) for v in o.job.aligned.face.box] if o.job.aligned is not None else None,
            anchor=o.job.anchor_label, mask_fraction=float(o.job.mask.mean()),
            similarity_before=o.result.similarity_before, similarity_after=o.result.similarity_after,
            engine=o.result.details, verdict=o.verdict, bare_regions=o.job.bare_reasons(),
            occlusion=o.job.occlusion.to_dict() if o.job.occlusion is not None else None,
            escalation=o.escalation) for o in run.faces]
        report = ProtectReport(photo, out_path, side_path, run.faces_found, reports,
                               {**self.settings, "pairs_skipped": run.skipped_pairs, "aligned": aligned}, run.trace,
                               time.perf_counter() - start, times, run.possibly_missed, [p.path for p in pairs])
        write_atomic(side_path, report.to_json(), mode=out_path.stat().st_mode & 0o777)  # as readable as the photo
        return report


def protect(
    photo: str | Path,
    prompt: str,
    *,
    out: str | Path | None = None,
    pair: Sequence[str | Path] = (),
    mask: str | Path | np.ndarray | None = None,
    aligned: bool = False,
    progress: ProgressCallback | None = None,
    **options,
) -> ProtectReport:
    """Protect ``photo`` with makeup described by ``prompt``; see `Protector` for ``options``.

    >>> masque.protect("me.jpg", "red lipstick", pair=["me_too.jpg"], engine="parametric")  # doctest: +SKIP
    """
    try:
        protector = Protector(prompt, **options)
    except TypeError as exc:
        raise MasqueError(f"unknown option for `masque.protect`: {exc}") from exc
    return protector.protect_photo(photo, out=out, pair=pair, mask=mask, aligned=aligned, progress=progress)
