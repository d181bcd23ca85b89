"""`masque protect PHOTO... --prompt "red lipstick"`: the main command, a thin layer over `masque.api`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import ENGINE_HELP, Address, Device, Executor, Model, Seed, Surrogates, Workers, parse_names

# how long the command waits, after importing torch (1.5-2.5 s), for the prefetched detection before it loads models
# anyway: a faceless photo's read and HOG pass (~0.3 s) have long finished by then; a slow one (CNN confirming a
# group photo, ~6 s) goes on overlapping the model loading and costs at most this
FACELESS_WAIT_SECONDS = 0.3
AUTO_HELP = ("Protection engine: auto (diffusion when Stable Diffusion weights are present locally, else parametric; "
             "one line says which ran and why). ")


def protect(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Makeup to apply, e.g. 'red lipstick', "
                                                               "'smoky eyeshadow'; it also picks the face region.")],
    photos: Annotated[list[Path] | None, typer.Argument(
        help="Photo(s) to protect (JPEG, PNG, WebP, ...). Several photos form a batch: resumable (a manifest in the "
             "output folder), faceless photos are skipped, a summary at the end.")] = None,
    pair: Annotated[list[Path] | None, typer.Option(help="Another photo of the same person (repeatable): the anchor "
                                                         "MASQUE pushes the face away from. Without it the face is "
                                                         "pushed away from itself (single mode).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", "--result-dir", "--result_dir",
        help="Output file (one photo) or folder (several). Default: PHOTO.protected.EXT beside the input.")] = None,
    mask: Annotated[Path | None, typer.Option(help="Region mask image of the photo's size (white = makeup). "
                                                   "Implies --aligned.")] = None,
    aligned: Annotated[bool, typer.Option(help="The photo is already an aligned face crop: skip face detection; "
                                               "the mask defaults to the whole crop.")] = False,
    engine: Annotated[str, typer.Option(help=AUTO_HELP + ENGINE_HELP)] = "auto",
    model: Model = None,
    surrogates: Surrogates = None,
    faces: Annotated[str, typer.Option(help="Faces to protect: all | largest | N (0 = largest).")] = "all",
    region: Annotated[str | None, typer.Option(help="Override the region chosen from the prompt: lips, eyes, brows, "
                                                    "cheeks, skin (comma-separated).")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: auto (hog, confirmed by cnn on a photo with several "
                                               "faces or a region hog was unsure of) | hog (fast; found every face "
                                               "of the shared test photos in ~0.3 s) | cnn (dlib's MMOD: turned "
                                               "faces, ~10x slower) | hog+cnn (both, always). Regions no detector "
                                               "confirmed are reported as possibly missed faces, with their "
                                               "boxes.")] = "auto",
    parser: Annotated[Path | None, typer.Option(
        help="BiSeNet face-parsing checkpoint (79999_iter.pth) for pixel-exact regions; default: the one imported "
             "with `masque models import face-parser FILE`, else landmark polygons.")] = None,
    source_prompt: Annotated[str | None, typer.Option(help="(diffusion) Prompt describing the unedited face "
                                                           "(default 'A face of a human').")] = None,
    target_word: Annotated[str | None, typer.Option(help="(diffusion) Word(s) of the prompt whose attention drives "
                                                         "the edit (default: every makeup word).")] = None,
    # the defaults are written out (importing the configs would load torch for `--help`); a test keeps them in step
    steps: Annotated[int | None, typer.Option(help="Denoising steps (diffusion, default 50) or optimisation steps "
                                                   "(parametric, default 20).", min=1)] = None,
    guidance_scale: Annotated[float | None, typer.Option(help="(diffusion) Classifier-free guidance scale "
                                                             "(default 7.5).", min=0)] = None,
    strength: Annotated[str | None, typer.Option(help="(parametric) How much makeup: subtle | natural | bold | max "
                                                      "(default natural; stronger protects more, see README). "
                                                      "(diffusion) Adversarial guidance strength, a number >= 0 "
                                                      "(default 1.0; 0 = makeup only).")] = None,
    mask_fusion: Annotated[str | None, typer.Option(help="(diffusion) Blend mask: mask | attention | both "
                                                         "(default both).")] = None,
    inversion: Annotated[str | None, typer.Option(help="(diffusion) Inversion: direct (exact, default) | null-text "
                                                       "(the paper's, ~10x slower) | negative-prompt (cheapest, "
                                                       "approximate).")] = None,
    reshape: Annotated[float | None, typer.Option(
        metavar="PX", help="(parametric) How far the retouch-like reshape may move the face, in px of a 256-px face "
                           "crop (about 1.4 % of the eye distance a px; eyes only grow, brows only lift, mouth corners "
                           "stay; default: the strength's preset; 0 = makeup and finish only).", min=0)] = None,
    eot: Annotated[bool, typer.Option(
        "--eot", help="Optimise under two random JPEG / resize / blur copies per model and step (expectation over "
                      "transformation), so protection survives re-encoding; slower. (parametric) Every --strength "
                      "preset already optimises under a cheaper EOT (one copy a step; two at max: the sidecar's "
                      "engine_config shows it), so this only makes it heavier. (diffusion) Off unless given.")
    ] = False,
    until_protected: Annotated[bool, typer.Option(
        "--until-protected", help="Protect each face at --strength, judge the written photo, and redo a face that "
                                  "some judge still matches at the next stronger level, up to --max-strength. "
                                  "Without --surrogates one present model is held out of the optimisation (the last "
                                  "in `masque models list` order), so a model the makeup never saw must stop "
                                  "matching too. The summary and sidecar say which level each face needed.")] = False,
    max_strength: Annotated[str | None, typer.Option(
        metavar="LEVEL", help="With --until-protected: the strongest level to try: subtle | natural | bold | max "
                              "(default max).")
    ] = None,
    require_protected: Annotated[bool, typer.Option(
        "--require-protected", help="Exit 3 when some face is still recognised (4: none recognised, but some face "
                                    "unverified), for one photo or a whole batch, instead of 0.")] = False,
    allow_unknown_words: Annotated[bool, typer.Option(
        "--allow-unknown-words", help="Run a prompt even when most of its words are not makeup words MASQUE knows "
                                      "(they are ignored; `masque vocabulary` lists the known ones). By default "
                                      "such a prompt is refused before anything loads.")] = False,
    seed: Seed = 0,
    device: Device = None,
    force_pair: Annotated[bool, typer.Option(help="Use every --pair photo as a reference, even one that most judges "
                                                  "do not match with the face (another person?); by default such a "
                                                  "photo is skipped, with a note.")] = False,
    keep_metadata: Annotated[bool, typer.Option(help="Keep EXIF/ICC metadata (GPS included!). Default: "
                                                     "stripped.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files (never the input).")] = False,
    max_pixels: Annotated[int, typer.Option(help="Largest photo accepted, in pixels (width x height); larger files "
                                                 "are refused before decoding (decompression-bomb guard).",
                                            min=1)] = 178_956_970,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    ref_map: Annotated[Path | None, typer.Option(
        "--ref-map", "--ref_map_json", help="Batch in MASQUE's official layout: a JSON file mapping each identity to "
                                            "its source and reference image names (the references are the pairs).")
    ] = None,
    images_dir: Annotated[Path | None, typer.Option(
        "--images-dir", "--images_dir", help="Folder of the --ref-map source images; alone: protect every image in "
                                             "it.")] = None,
    ref_base_dir: Annotated[Path | None, typer.Option(
        "--ref-base-dir", "--ref_base_dir", help="Folder of the --ref-map reference images (default: "
                                                 "--images-dir).")] = None,
    img_ext: Annotated[str | None, typer.Option(
        "--img-ext", "--img_ext", help="Image extension, e.g. .jpg: added to --ref-map names that have none; "
                                       "filters --images-dir.")] = None,
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing/--no-skip-existing", "--skip_existing/--no_skip_existing",
        help="(batches) Skip photos the output folder's manifest records as finished with the same settings and "
             "intact files; redo missing or corrupt ones.")] = True,
    executor: Executor = "local",
    address: Address = None,
    workers: Workers = None,
) -> None:
    """Apply adversarial makeup to every face in PHOTO so face recognition no longer matches it to you.

    Writes the protected photo (same size and format, metadata stripped) and a JSON sidecar (OUT.json) with the
    settings, seed, per-stage seconds, the cost trace and every judge's verdict on the written photo. Check it again
    offline with `masque check PHOTO PROTECTED --reference OTHER`.

    Exit status: 0 done, 1 some photo of a batch failed, 2 a bad argument (nothing written), 3 with
    --require-protected: some face is still recognised, 4 with --require-protected: none recognised but some face
    unverified, 130 interrupted.
    """
    from ..engines.auto import ENGINE_CHOICES
    from ..errors import InputError

    # 1. check the arguments that need no model, and that every output can be written
    if engine not in ENGINE_CHOICES:
        raise InputError(f"`--engine` must be one of {ENGINE_CHOICES}; got {engine!r}.")
    from .protect_batch import batch_inputs, run_batch

    given = list(photos or [])
    photos, pairs_of = batch_inputs(given, ref_map=ref_map, images_dir=images_dir, ref_base_dir=ref_base_dir,
                                    img_ext=img_ext)
    if not photos:
        raise InputError("give the `PHOTO`(s) to protect, or a batch with `--ref-map` / `--images-dir`.")
    for flag, paths in (("PHOTO", photos), ("--pair", pair or []), ("--mask", [mask] if mask else [])):
        for path in paths:
            if not path.is_file():
                raise InputError(f"`{flag}` {str(path)!r} does not exist or is not a file.")
    batch = len(photos) > 1 or pairs_of is not None or images_dir is not None or executor != "local"
    targets = _output_targets(photos, out)
    _check_outputs(photos, targets, [*(pair or []), *([mask] if mask else [])])
    from .console import FaceProgress, console
    from .preflight import check_inputs  # every input read and the prompt parsed before torch or a model loads

    err = console(stderr=True)
    plan = check_inputs([] if batch else photos, pairs=pair or [], mask=mask, prompt=prompt, region=region,
                        max_pixels=max_pixels, allow_unknown_words=allow_unknown_words)
    said = plan.notes
    for note in said:  # the words that will be ignored, said before the wait (and not again in the summary)
        err.print(f"Note: {note}", style="yellow", highlight=False, markup=False)

    # one photo: its faces are found in a forked process while torch and the models load (`masque.prefetch`)
    prefetch = None
    if not batch and not aligned and mask is None:
        from ..prefetch import DetectionPrefetch

        prefetch = DetectionPrefetch.start(photos[0], detector, max_pixels)

    # 2. pick the engine (auto: diffusion only when its weights are here) and map the user's knobs onto its config
    from .. import api
    from ..devices import default_device
    from ..engines.auto import choose_engine
    from ..engines.base import EngineOptions, engine_kwargs

    choice = choose_engine(engine, model)
    if until_protected:  # the ladder from --strength to --max-strength, checked before any model loads
        from ..pipeline.escalate import ladder

        ladder(strength or "natural", max_strength)
    elif max_strength is not None:
        raise InputError("`--max-strength` caps `--until-protected`; add `--until-protected` or drop it.")
    knobs = EngineOptions(steps=steps, eot=eot, model=model, device=default_device(device),
                          source_prompt=source_prompt, target_word=target_word, guidance_scale=guidance_scale,
                          strength=strength, mask_fusion=mask_fusion, inversion=inversion, reshape=reshape)
    try:
        engine_options = engine_kwargs(choice.name, knobs)
    except InputError as exc:
        if choice.requested == choice.name:
            raise
        raise InputError(f"{str(exc).rstrip('.')} (engine {choice.reason}).") from exc
    options = dict(prompt=prompt, engine=choice.name, surrogates=parse_names(surrogates), region=parse_names(region),
                   faces=faces, detector=detector, parser=parser, seed=seed, keep_metadata=keep_metadata,
                   max_pixels=max_pixels, force_pair=force_pair,
                   **({"until_protected": True, "max_strength": max_strength} if until_protected else {}))
    if batch:
        # a batch: resumable through the output folder's manifest, on the chosen executor (masque.batch)
        from ..batch import ProtectSpec

        if mask is not None:  # one mask for every photo: read once here, checked per photo by the worker
            from ..io import read_image

            mask_arr = read_image(mask).rgb.astype("float32").mean(axis=2) / 255.0
        from ..run_config import ProtectConfig

        spec = ProtectSpec({**options, "parser": str(parser) if parser else None, "engine_options": engine_options},
                           device=device, mask=mask_arr if mask is not None else None, aligned=aligned,
                           config=ProtectConfig(**options, options=knobs))
        if not quiet:
            err.print(choice.line, highlight=False, markup=False)
            _say_expected(err, plan, choice.name, engine_options, until_protected, max_strength)
        with _format_notes(err):  # notes of the photos (a skipped pair photo, CMYK, ...) once each, at the end
            code = run_batch(spec, photos, tuple(pair or ()), pairs_of, out, executor=executor, address=address,
                             workers=workers, skip_existing=skip_existing, overwrite=overwrite, quiet=quiet,
                             require_protected=require_protected)
        raise typer.Exit(code)

    # 3. load the engine and FR models once, unless the photo has no face (its detection ran while torch imported)
    if prefetch is not None and prefetch.found_no_face(timeout=FACELESS_WAIT_SECONDS):
        from ..faces.detect import select_faces

        prefetch.close()
        select_faces([])  # the one "no face found" error, before any model loads
    from ..run_config import ProtectConfig

    protector = api.Protector.from_config(ProtectConfig(**options, options=knobs), engine_choice=choice,
                                          device=default_device(device), overwrite=overwrite)
    if not quiet:  # after loading: a model that fails to load is the one line the user sees
        err.print(choice.line, highlight=False, markup=False)
        _say_expected(err, plan, choice.name, engine_options, until_protected, max_strength)

    # 4. protect the photo (several photos are a batch, above)
    with FaceProgress(err, quiet) as progress, _format_notes(err):
        report = protector.protect_photo(photos[0], out=targets[0], pair=pair or (), mask=mask, aligned=aligned,
                                         progress=progress, prefetch=prefetch)
    if not quiet:
        _summary(err, report, said)
    if require_protected and report.faces:
        from ..pipeline.verdict import status_exit_code

        raise typer.Exit(status_exit_code([f.status for f in report.faces]))


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
