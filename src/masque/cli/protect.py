"""`masque protect PHOTO... --prompt "red lipstick"`: the main command, a thin layer over `masque.api`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from . import protect_options as opt  # the option aliases, one per name in the signature
from .options import Address, Device, Executor, Model, Seed, Surrogates, Workers, parse_names

# how long the command waits, after importing torch (1.5-2.5 s), for the prefetched detection before it loads models
# anyway: a faceless photo's read and HOG pass (~0.3 s) have long finished by then; a slow one (CNN confirming a
# group photo, ~6 s) goes on overlapping the model loading and costs at most this
FACELESS_WAIT_SECONDS = 0.3


def protect(
    prompt: opt.PromptOpt,
    photos: opt.PhotosOpt = None,
    pair: opt.PairOpt = None,
    out: opt.OutOpt = None,
    mask: opt.MaskOpt = None,
    aligned: opt.AlignedOpt = False,
    engine: opt.EngineOpt = "auto",
    model: Model = None,
    surrogates: Surrogates = None,
    faces: opt.FacesOpt = "all",
    region: opt.RegionOpt = None,
    detector: opt.DetectorOpt = "auto",
    parser: opt.ParserOpt = None,
    source_prompt: opt.SourcePromptOpt = None,
    target_word: opt.TargetWordOpt = None,
    steps: opt.StepsOpt = None,
    guidance_scale: opt.GuidanceScaleOpt = None,
    strength: opt.StrengthOpt = None,
    mask_fusion: opt.MaskFusionOpt = None,
    inversion: opt.InversionOpt = None,
    reshape: opt.ReshapeOpt = None,
    eot: opt.EotOpt = False,
    until_protected: opt.UntilProtectedOpt = False,
    max_strength: opt.MaxStrengthOpt = None,
    require_protected: opt.RequireProtectedOpt = False,
    allow_unknown_words: opt.AllowUnknownWordsOpt = False,
    seed: Seed = 0,
    device: Device = None,
    force_pair: opt.ForcePairOpt = False,
    keep_metadata: opt.KeepMetadataOpt = False,
    overwrite: opt.OverwriteOpt = False,
    max_pixels: opt.MaxPixelsOpt = 178_956_970,
    quiet: opt.QuietOpt = False,
    ref_map: opt.RefMapOpt = None,
    images_dir: opt.ImagesDirOpt = None,
    ref_base_dir: opt.RefBaseDirOpt = None,
    img_ext: opt.ImgExtOpt = None,
    skip_existing: opt.SkipExistingOpt = True,
    executor: Executor = "local",
    address: Address = None,
    workers: Workers = None,
) -> None:
    """Apply adversarial makeup to every face in PHOTO so face recognition no longer matches it to you.

    Writes the protected photo (same size and format, metadata stripped) and a JSON sidecar (OUT.json) with the
    settings, seed, per-stage seconds, the cost trace and every judge's verdict on the written photo. Check it again
    offline with `masque check PHOTO PROTECTED --reference OTHER`. Exit status: 0 done, 1 some photo of a batch
    failed, 2 a bad argument (nothing written), 3 with --require-protected: some face is still recognised, 4 with
    --require-protected: none recognised but some face unverified, 130 interrupted."""
    # 1. check the arguments that need no model, and that every output can be written
    photos, pairs_of, targets = _checked_paths(engine, photos, pair, mask, out, ref_map, images_dir, ref_base_dir,
                                               img_ext)
    batch = len(photos) > 1 or pairs_of is not None or images_dir is not None or executor != "local"
    err, plan, prefetch = _preflight([] if batch else photos, pair, mask, prompt, region, max_pixels,
                                allow_unknown_words, prefetch=not batch and not aligned and mask is None,
                                detector=detector)

    # 2. pick the engine (auto: diffusion only when its weights are here) and map the user's knobs onto its config
    from ..devices import default_device
    from ..engines.base import EngineOptions

    knobs = EngineOptions(steps=steps, eot=eot, model=model, device=default_device(device),
                          source_prompt=source_prompt, target_word=target_word, guidance_scale=guidance_scale,
                          strength=strength, mask_fusion=mask_fusion, inversion=inversion, reshape=reshape)
    choice, engine_options = _engine_settings(engine, model, knobs, until_protected, max_strength)
    options = dict(prompt=prompt, engine=choice.name, surrogates=parse_names(surrogates), region=parse_names(region),
                   faces=faces, detector=detector, parser=parser, seed=seed, keep_metadata=keep_metadata,
                   max_pixels=max_pixels, force_pair=force_pair,
                   **({"until_protected": True, "max_strength": max_strength} if until_protected else {}))
    run = _Run(err, plan, choice, options, engine_options, knobs, quiet, until_protected, max_strength)
    if batch:  # resumable through the output folder's manifest, on the chosen executor (masque.batch)
        raise typer.Exit(run.batch(photos, pair, pairs_of, out, mask=mask, parser=parser, device=device,
                                   aligned=aligned, executor=executor, address=address, workers=workers,
                                   skip_existing=skip_existing, overwrite=overwrite,
                                   require_protected=require_protected))
    # 3. load the engine and FR models once, 4. protect the photo
    run.single(photos[0], targets[0], pair, mask=mask, aligned=aligned, prefetch=prefetch,
               device=default_device(device), overwrite=overwrite, require_protected=require_protected)


@dataclass
class _Run:
    """What steps 1-2 settled, for the batch or the single photo that follows."""

    err: object
    plan: object
    choice: object
    options: dict
    engine_options: dict
    knobs: object
    quiet: bool
    until: bool
    cap: str | None

    def say_engine(self) -> None:
        if not self.quiet:  # after loading: a model that fails to load is the one line the user sees
            self.err.print(self.choice.line, highlight=False, markup=False)
            _say_expected(self.err, self.plan, self.choice.name, self.engine_options, self.until, self.cap)

    def batch(self, photos, pair, pairs_of, out, *, mask, parser, device, aligned, **run_options) -> int:
        from ..batch import ProtectSpec
        from ..run_config import ProtectConfig
        from .protect_batch import run_batch

        mask_arr = None
        if mask is not None:  # one mask for every photo: read once here, checked per photo by the worker
            from ..io import read_image

            mask_arr = read_image(mask).rgb.astype("float32").mean(axis=2) / 255.0
        spec = ProtectSpec({**self.options, "parser": str(parser) if parser else None,
                            "engine_options": self.engine_options}, device=device, mask=mask_arr, aligned=aligned,
                           config=ProtectConfig(**self.options, options=self.knobs))
        self.say_engine()
        with _format_notes(self.err):  # notes of the photos (a skipped pair photo, CMYK, ...) once each, at the end
            return run_batch(spec, photos, tuple(pair or ()), pairs_of, out, quiet=self.quiet, **run_options)

    def single(self, photo, target, pair, *, mask, aligned, prefetch, device, overwrite,
               require_protected) -> None:
        """Load the models once (unless the photo has no face: its detection ran while torch imported), protect,
        summarise; with ``require_protected`` exit with the faces' status."""
        from .. import api
        from ..run_config import ProtectConfig
        from .console import FaceProgress

        if prefetch is not None and prefetch.found_no_face(timeout=FACELESS_WAIT_SECONDS):
            from ..faces.detect import select_faces

            prefetch.close()
            select_faces([])  # the one "no face found" error, before any model loads
        protector = api.Protector.from_config(ProtectConfig(**self.options, options=self.knobs),
                                              engine_choice=self.choice, device=device, overwrite=overwrite)
        self.say_engine()
        with FaceProgress(self.err, self.quiet) as progress, _format_notes(self.err):
            report = protector.protect_photo(photo, out=target, pair=pair or (), mask=mask, aligned=aligned,
                                             progress=progress, prefetch=prefetch)
        if not self.quiet:
            _summary(self.err, report, self.plan.notes)
        if require_protected and report.faces:
            from ..pipeline.verdict import status_exit_code

            raise typer.Exit(status_exit_code([f.status for f in report.faces]))


def _preflight(photos, pair, mask, prompt, region, max_pixels, allow_unknown_words, *, prefetch: bool,
               detector: str):
    """Every input read and the prompt parsed before torch or a model loads, the words to be ignored said before the
    wait (not again in the summary); with ``prefetch`` the one photo's faces are found in a forked process while torch
    and the models load (`masque.prefetch`)."""
    from .console import console
    from .preflight import check_inputs

    err = console(stderr=True)
    plan = check_inputs(photos, pairs=pair or [], mask=mask, prompt=prompt, region=region, max_pixels=max_pixels,
                        allow_unknown_words=allow_unknown_words)
    for note in plan.notes:
        err.print(f"Note: {note}", style="yellow", highlight=False, markup=False)
    if not prefetch:
        return err, plan, None
    from ..prefetch import DetectionPrefetch

    return err, plan, DetectionPrefetch.start(photos[0], detector, max_pixels)


def _checked_paths(engine: str, photos, pair, mask, out, ref_map, images_dir, ref_base_dir, img_ext):
    """The photos to protect (and each one's pairs, in a ``--ref-map`` batch) and where each output goes, every
    input checked to exist and every output to be writable, before anything loads."""
    from ..engines.auto import ENGINE_CHOICES
    from ..errors import InputError
    from .protect_batch import batch_inputs

    if engine not in ENGINE_CHOICES:
        raise InputError(f"`--engine` must be one of {ENGINE_CHOICES}; got {engine!r}.")
    photos, pairs_of = batch_inputs(list(photos or []), ref_map=ref_map, images_dir=images_dir,
                                    ref_base_dir=ref_base_dir, img_ext=img_ext)
    if not photos:
        raise InputError("give the `PHOTO`(s) to protect, or a batch with `--ref-map` / `--images-dir`.")
    for flag, paths in (("PHOTO", photos), ("--pair", pair or []), ("--mask", [mask] if mask else [])):
        for path in paths:
            if not path.is_file():
                raise InputError(f"`{flag}` {str(path)!r} does not exist or is not a file.")
    targets = _output_targets(photos, out)
    _check_outputs(photos, targets, [*(pair or []), *([mask] if mask else [])])
    return photos, pairs_of, targets


def _engine_settings(engine: str, model, knobs, until: bool, cap: str | None):
    """The engine that runs (auto: diffusion only when its weights are here) and its factory arguments from the
    user's knobs; with ``until`` (`--until-protected`) the ladder up to ``cap`` is checked before any model loads."""
    from ..engines.auto import choose_engine
    from ..engines.base import engine_kwargs
    from ..errors import InputError

    if not until and cap is not None:
        raise InputError("`--max-strength` caps `--until-protected`; add `--until-protected` or drop it.")
    choice = choose_engine(engine, model)
    if until:
        from ..pipeline.escalate import ladder

        ladder(knobs.strength or "natural", cap)
    try:
        return choice, engine_kwargs(choice.name, knobs)
    except InputError as exc:
        if choice.requested == choice.name:
            raise
        raise InputError(f"{str(exc).rstrip('.')} (engine {choice.reason}).") from exc


def _say_expected(console, plan, engine: str, engine_options: dict, until: bool, cap: str | None) -> None:
    """Before the wait: what the look and strength are measured to give (`masque.makeup.expected`, the measured
    frontier of the parametric engine); with ``until`` (--until-protected) the levels up to ``cap`` too."""
    from ..engines.catalog import engine_entry

    entry = engine_entry(engine)
    if entry is None or not entry.level_presets:  # only the measured presets' frontier is known
        return
    from ..engines.base import config_level
    from ..makeup.expected import expected_protection
    from ..pipeline.escalate import ladder

    start = config_level(engine, engine_options.get("config"))
    top = ladder(start, cap)[-1] if until else None
    console.print(expected_protection(list(plan.products), start, cap=top), markup=False, highlight=False)


def _output_targets(photos: list[Path], out: Path | None) -> list[Path | None]:
    from ..io import default_output_path, prepare_output_folder

    if len(photos) == 1:
        if out is not None and out.is_dir():
            return [out / default_output_path(photos[0]).name]
        return [out]
    if out is None:
        return [None] * len(photos)
    prepare_output_folder(out)
    return [out / default_output_path(p).name for p in photos]


def _check_outputs(photos: list[Path], targets: list[Path | None], others: list[Path]) -> None:
    """Every output photo and sidecar can be written and is no input of the batch: checked before any model loads."""
    from ..io import check_output_path, default_output_path, sidecar_path

    for photo, target in zip(photos, targets, strict=True):
        final = target if target is not None else default_output_path(photo)
        for path in (final, sidecar_path(final)):
            check_output_path(path, inputs=[*photos, *others])


class _format_notes:
    """Print each `masque.errors.UserNote` (a skipped pair photo, what the output format could not keep) as one plain
    line."""

    def __init__(self, console):
        self.console = console

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        import warnings

        from ..errors import UserNote

        self._catch.__exit__(*exc)
        said = set()
        for w in self._caught:
            if issubclass(w.category, UserNote):
                if str(w.message) not in said:  # a batch repeats the same note for every photo
                    self.console.print(f"Note: {w.message}", style="yellow", highlight=False, markup=False)
                said.add(str(w.message))
            else:  # not ours: hand it back to Python's usual warning display
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return False


def _summary(console, report, said: tuple[str, ...] = ()) -> None:
    from ..hints import missed_faces_hint, weak_protection_hint
    from .verdicts import print_verdicts

    s = report.summary
    print_verdicts(console, report.verdicts, f"{report.output} ({report.trace.nfe()} NFE)")
    console.print(f"faces found: {s['faces_found']}, protected: {s['protected']}, not protected: "
                  f"{s['still_recognised']}, unverified: {s['unverified']}; sidecar: {report.sidecar}")
    load_seconds = report.times.seconds.get("load")  # the first photo carries the loading (`Protector.load_times`)
    loaded = f"; before it, loading the engine and models took {load_seconds:.1f} s" if load_seconds else ""
    console.print(f"time: {report.seconds:.1f} s for this photo (detect, optimise, write, judge){loaded}; the "
                  "command's wall time also counts starting Python and importing torch", markup=False,
                  highlight=False)
    missed = missed_faces_hint(report.possibly_missed, report.settings.get("detector", ""))
    if missed:
        console.print(missed, style="yellow", markup=False, highlight=False)
    if s["still_matched_by"]:
        # Measured on the test photos: lips alone are ~1.5% of the face crop, too little to move dlib past its
        # threshold; skin-wide makeup does (see README, "How strong is it?").
        console.print(weak_protection_hint(s["still_matched_by"], report.settings, has_pair=bool(report.pairs),
                                           faces=len(report.faces)), style="yellow", markup=False, highlight=False)
    until = report.settings.get("until_protected")
    if until is not None and not until["held_out"]:
        console.print("Note: every face-recognition model present was optimised against, so no held-out model "
                      "checked the escalation (only dlib-bin did); run `masque models fetch --all-fr` or name fewer "
                      "`--surrogates`.", style="yellow", markup=False, highlight=False)
    for f in report.faces:  # --until-protected: the level each face needed, or the cap and what to do next
        if f.escalation is not None:
            from ..hints import escalation_line
            from ..makeup.prompt import STRENGTHS

            console.print(escalation_line(f.index, f.escalation.to_dict(), f.anchor != "self", strengths=STRENGTHS,
                                          faces=len(report.faces)),
                          markup=False, highlight=False, style="green" if f.status == "protected" else "yellow")
    for f in report.faces:  # the parametric engine: what was applied and how it looks
        if f.bare_regions:
            console.print(f"face {f.index} left bare: " + "; ".join(f"{r}: {why}" for r, why in f.bare_regions.items()),
                          style="yellow", markup=False, highlight=False)
        plan, q = f.engine.get("plan"), f.engine.get("quality")
        if plan:  # what it is measured to give was said before the wait (`_say_expected`)
            shades = ", ".join(f"{p} {v['shade']}" for p, v in plan["products"].items())
            console.print(f"face {f.index} makeup: {shades} [strength {plan['strength']}]", markup=False)
            for note in (n for n in plan.get("notes", []) if n not in said):
                console.print(note, style="yellow", markup=False, highlight=False)
        if q:
            console.print(f"face {f.index} look: face SSIM {q['face_ssim']:.3f}, PSNR {q['face_psnr']:.1f} dB, "
                          f"high-frequency energy {q['hf_energy']:.2f}")
        if f.engine.get("reshape"):
            from ..hints import reshape_line

            console.print(reshape_line(f.index, f.engine["reshape"], q or {}), markup=False, highlight=False)
