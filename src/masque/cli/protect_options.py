"""The options of `masque protect`, each written once as an `Annotated` alias (the typer CLI's signature reads as a
list of names, the help texts live here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import ENGINE_HELP

AUTO_HELP = ("Protection engine: auto (diffusion when Stable Diffusion weights are present locally, else parametric; "
             "one line says which ran and why). ")

PromptOpt = Annotated[str, typer.Option("--prompt", "-p", help="Makeup to apply, e.g. 'red lipstick', "
    "'smoky eyeshadow'; it also picks the face region.")]
PhotosOpt = Annotated[list[Path] | None, typer.Argument(
    help="Photo(s) to protect (JPEG, PNG, WebP, ...). Several photos form a batch: resumable (a manifest in the "
         "output folder), faceless photos are skipped, a summary at the end.")]
PairOpt = Annotated[list[Path] | None, typer.Option(help="Another photo of the same person (repeatable): the anchor "
    "MASQUE pushes the face away from. Without it the face is "
    "pushed away from itself (single mode).")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", "--result-dir", "--result_dir",
    help="Output file (one photo) or folder (several). Default: PHOTO.protected.EXT beside the input.")]
MaskOpt = Annotated[Path | None, typer.Option(help="Region mask image of the photo's size (white = makeup). "
    "Implies --aligned.")]
AlignedOpt = Annotated[bool, typer.Option(help="The photo is already an aligned face crop: skip face detection; "
    "the mask defaults to the whole crop.")]
EngineOpt = Annotated[str, typer.Option(help=AUTO_HELP + ENGINE_HELP)]
FacesOpt = Annotated[str, typer.Option(help="Faces to protect: all | largest | N (0 = largest).")]
RegionOpt = Annotated[str | None, typer.Option(help="Override the region chosen from the prompt: lips, eyes, brows, "
    "cheeks, skin (comma-separated).")]
DetectorOpt = Annotated[str, typer.Option(help="Face detector: auto (hog, confirmed by cnn on a photo with several "
    "faces or a region hog was unsure of) | hog (fast; found every face "
    "of the shared test photos in ~0.3 s) | cnn (dlib's MMOD: turned "
    "faces, ~10x slower) | hog+cnn (both, always). Regions no detector "
    "confirmed are reported as possibly missed faces, with their "
    "boxes.")]
ParserOpt = Annotated[Path | None, typer.Option(
    help="BiSeNet face-parsing checkpoint (79999_iter.pth) for pixel-exact regions; default: the one imported "
         "with `masque models import face-parser FILE`, else landmark polygons.")]
SourcePromptOpt = Annotated[str | None, typer.Option(help="(diffusion) Prompt describing the unedited face "
    "(default 'A face of a human').")]
TargetWordOpt = Annotated[str | None, typer.Option(help="(diffusion) Word(s) of the prompt whose attention drives "
    "the edit (default: every makeup word).")]
StepsOpt = Annotated[int | None, typer.Option(help="Denoising steps (diffusion, default 50) or optimisation steps "
    "(parametric, default 20).", min=1)]
GuidanceScaleOpt = Annotated[float | None, typer.Option(help="(diffusion) Classifier-free guidance scale "
    "(default 7.5).", min=0)]
StrengthOpt = Annotated[str | None, typer.Option(help="(parametric) How much makeup: subtle | natural | bold | max "
    "(default natural; stronger protects more, see README). "
    "(diffusion) Adversarial guidance strength, a number >= 0 "
    "(default 1.0; 0 = makeup only).")]
MaskFusionOpt = Annotated[str | None, typer.Option(help="(diffusion) Blend mask: mask | attention | both "
    "(default both).")]
InversionOpt = Annotated[str | None, typer.Option(help="(diffusion) Inversion: direct (exact, default) | null-text "
    "(the paper's, ~10x slower) | negative-prompt (cheapest, "
    "approximate).")]
ReshapeOpt = Annotated[float | None, typer.Option(
    metavar="PX", help="(parametric) How far the retouch-like reshape may move the face, in px of a 256-px face "
                       "crop (about 1.4 % of the eye distance a px; eyes only grow, brows only lift, mouth corners "
                       "stay; default: the strength's preset; 0 = makeup and finish only).", min=0)]
EotOpt = Annotated[bool, typer.Option(
        "--eot", help="Optimise under two random JPEG / resize / blur copies per model and step (expectation over "
                      "transformation), so protection survives re-encoding; slower. (parametric) Every --strength "
                      "preset already optimises under a cheaper EOT (one copy a step; two at max: the sidecar's "
                      "engine_config shows it), so this only makes it heavier. (diffusion) Off unless given.")
    ]
UntilProtectedOpt = Annotated[bool, typer.Option(
    "--until-protected", help="Protect each face at --strength, judge the written photo, and redo a face that "
                              "some judge still matches at the next stronger level, up to --max-strength. "
                              "Without --surrogates one present model is held out of the optimisation (the last "
                              "in `masque models list` order), so a model the makeup never saw must stop "
                              "matching too. The summary and sidecar say which level each face needed.")]
MaxStrengthOpt = Annotated[str | None, typer.Option(
        metavar="LEVEL", help="With --until-protected: the strongest level to try: subtle | natural | bold | max "
                              "(default max).")
    ]
RequireProtectedOpt = Annotated[bool, typer.Option(
    "--require-protected", help="Exit 3 when some face is still recognised (4: none recognised, but some face "
                                "unverified), for one photo or a whole batch, instead of 0.")]
AllowUnknownWordsOpt = Annotated[bool, typer.Option(
    "--allow-unknown-words", help="Run a prompt even when most of its words are not makeup words MASQUE knows "
                                  "(they are ignored; `masque vocabulary` lists the known ones). By default "
                                  "such a prompt is refused before anything loads.")]
ForcePairOpt = Annotated[bool, typer.Option(help="Use every --pair photo as a reference, even one that most judges "
    "do not match with the face (another person?); by default such a "
    "photo is skipped, with a note.")]
KeepMetadataOpt = Annotated[bool, typer.Option(help="Keep EXIF/ICC metadata (GPS included!). Default: "
    "stripped.")]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace existing output files (never the input).")]
MaxPixelsOpt = Annotated[int, typer.Option(help="Largest photo accepted, in pixels (width x height); larger files "
         "are refused before decoding (decompression-bomb guard).",
    min=1)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
RefMapOpt = Annotated[Path | None, typer.Option(
        "--ref-map", "--ref_map_json", help="Batch in MASQUE's official layout: a JSON file mapping each identity to "
                                            "its source and reference image names (the references are the pairs).")
    ]
ImagesDirOpt = Annotated[Path | None, typer.Option(
    "--images-dir", "--images_dir", help="Folder of the --ref-map source images; alone: protect every image in "
                                         "it.")]
RefBaseDirOpt = Annotated[Path | None, typer.Option(
    "--ref-base-dir", "--ref_base_dir", help="Folder of the --ref-map reference images (default: "
                                             "--images-dir).")]
ImgExtOpt = Annotated[str | None, typer.Option(
    "--img-ext", "--img_ext", help="Image extension, e.g. .jpg: added to --ref-map names that have none; "
                                   "filters --images-dir.")]
SkipExistingOpt = Annotated[bool, typer.Option(
    "--skip-existing/--no-skip-existing", "--skip_existing/--no_skip_existing",
    help="(batches) Skip photos the output folder's manifest records as finished with the same settings and "
         "intact files; redo missing or corrupt ones.")]
