"""Labelled before/after contact sheets of the parametric engine on real faces (look at them at 100 %).

    python benchmarks/contact_sheet.py --out /tmp/sheets                       # every prompt x strength, 0 steps
    python benchmarks/contact_sheet.py --prompts "full glam" --strengths bold --steps 20 --out /tmp/sheets
    python benchmarks/contact_sheet.py --kept /tmp/frontier --out /tmp/sheets      # 100 % crops of written photos

``--kept DIR`` (the written photos `protection_table.py --keep DIR` left, one folder per strength_finish setting):
one PNG per photo, the original and every setting side by side as **100 % crops of the full-resolution photo**
(no resampling: what a viewer sees at 100 %) around the face centre, plus ``--diff K``: the change ×K on grey, to
see where the finish lies and what its texture is.

One PNG per prompt: rows = faces (first photo of each shared identity), columns = before, then each strength. Each
tile is the face region cut from the full-resolution photo after paste-back (the shipped `FacePipeline.run`: prepare,
engine, paste back), with the face-box SSIM and the high-frequency energy of the makeup layer printed under it.
``--steps 0`` renders the tutorial (reference) makeup; ``--steps N`` optimises against dlib (the look the user
actually gets). The images are not committed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IDENTITIES = next((p for p in (ROOT.parent / "shared" / "data" / "identities",  # ../shared beside the clone
                   Path("/work/shared/data/identities")) if p.is_dir()), ROOT.parent / "shared" / "data" / "identities")
PROMPTS = ("red lipstick", "smoky eyeshadow", "pink blush", "natural everyday look", "full glam", "contoured",
           "tan foundation")
STRENGTHS = ("subtle", "natural", "bold", "max")


def first_photos(root: Path) -> list[Path]:
    out = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(q for q in person.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if photos:
            out.append(photos[0])
    return out


def face_tile(rgb: np.ndarray, box, tile: int) -> Image.Image:
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    cx, cy, side = (left + right) / 2, (top + bottom) / 2 - 0.1 * h, 1.5 * max(w, h)
    x0, y0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    x1, y1 = int(min(cx + side / 2, rgb.shape[1])), int(min(cy + side / 2, rgb.shape[0]))
    return Image.fromarray(rgb[y0:y1, x0:x1]).resize((tile, tile), Image.LANCZOS)


def full_resolution_sheets(kept: Path, faces: Path, out: Path, side: int, diff: float) -> None:
    """One sheet per photo: 100 % crops (``side`` px) of the original and of each kept setting's written photo."""
    from masque.faces.detect import detect_faces
    from masque.io import read_image

    settings = sorted((d for d in kept.iterdir() if d.is_dir()), key=lambda d: _setting_key(d.name))
    originals = {p.stem: p for person in faces.iterdir() if person.is_dir() for p in person.iterdir()}
    for stem in sorted({p.stem for d in settings for p in d.glob("*.png")}):
        rgb = read_image(originals[stem]).rgb
        left, top, right, bottom = detect_faces(rgb)[0].box
        cx, cy = (left + right) // 2, (top + bottom) // 2
        x0, y0 = max(0, min(cx - side // 2, rgb.shape[1] - side)), max(0, min(cy - side // 2, rgb.shape[0] - side))
        window = (slice(y0, y0 + side), slice(x0, x0 + side))
        tiles = [(rgb[window], f"{stem}: original (100 %)")]
        diffs = []
        for d in settings:
            path = d / f"{stem}.png"
            if path.exists():
                written = read_image(path).rgb
                tiles.append((written[window], d.name))
                change = written[window].astype(np.float64) - rgb[window].astype(np.float64)
                diffs.append((np.clip(128 + diff * change, 0, 255).astype(np.uint8), f"{d.name}: change x{diff:g}"))
        rows = [tiles] + ([diffs] if diff > 0 else [])
        pad, w = 22, max(t[0].shape[1] for t in tiles)
        h = max(t[0].shape[0] for t in tiles)
        sheet = Image.new("RGB", (w * len(tiles), (h + pad) * len(rows)), "white")
        draw = ImageDraw.Draw(sheet)
        for r, row in enumerate(rows):
            for c, (img, label) in enumerate(row, start=0 if r == 0 else 1):
                sheet.paste(Image.fromarray(img), (c * w, r * (h + pad)))
                draw.text((c * w + 4, r * (h + pad) + h + 4), label, fill="black")
        name = out / f"{stem}_100pct.png"
        sheet.save(name)
        print(name, flush=True)


def _setting_key(name: str) -> tuple:
    strength, _, finish = name.split("-")[0].rpartition("_")
    order = {s: i for i, s in enumerate(STRENGTHS)}
    return (float(finish) if finish.replace(".", "").isdigit() else 0.0, order.get(strength, 9))


def main(argv: list[str] | None = None) -> None:
    from masque.embedders import create_embedder
    from masque.engines import create_engine
    from masque.engines.parametric import ParametricConfig
    from masque.errors import NoFaceError
    from masque.faces.regions import RegionMasker
    from masque.io import read_image
    from masque.makeup import resolve_plan
    from masque.pipeline import FacePipeline, Preparer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--prompts", nargs="*", default=list(PROMPTS))
    ap.add_argument("--strengths", nargs="*", default=list(STRENGTHS))
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--tile", type=int, default=384)
    ap.add_argument("--faces", type=Path, default=IDENTITIES)
    ap.add_argument("--kept", type=Path, default=None, help="protection_table.py --keep folder: 100 %% crops")
    ap.add_argument("--side", type=int, default=360, help="side of the 100 %% crops, photo pixels")
    ap.add_argument("--diff", type=float, default=8.0, help="amplification of the change row (0: none)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.kept is not None:
        full_resolution_sheets(args.kept, args.faces, args.out, args.side, args.diff)
        return
    # what ships: one `FacePipeline` per strength (prepare -> engine -> paste back), the largest face of each photo;
    # no judge (the tiles print the engine's own numbers), so nothing is written but the sheets
    embedders, masker = [create_embedder("dlib")], RegionMasker()
    pipelines = {strength: FacePipeline(Preparer(
        create_engine("parametric", embedders=embedders, config=ParametricConfig(steps=args.steps, strength=strength)),
        args.prompts[0], masker=masker), faces="largest") for strength in args.strengths}
    photos = [(path, read_image(path).rgb) for path in first_photos(args.faces)]
    for prompt in args.prompts:
        rows = []
        for path, rgb in photos:
            tiles = []
            for strength in args.strengths:
                try:
                    run = pipelines[strength].with_prompt(prompt).run(rgb, seed=0)
                except NoFaceError:
                    break
                face = run.faces[0]
                box = face.job.aligned.face.box
                if not tiles:
                    tiles.append((face_tile(rgb, box, args.tile), f"{path.stem}: before"))
                q = face.result.details["quality"]
                cos = next(iter(face.result.similarity_after.values()))
                tiles.append((face_tile(run.rgb, box, args.tile),
                              f"{strength}: ssim {q['face_ssim']:.3f} hf {q['hf_energy']:.2f} dlib cos {cos:.3f}"))
            if tiles:
                rows.append(tiles)
        pad = 22
        sheet = Image.new("RGB", (args.tile * len(rows[0]), (args.tile + pad) * len(rows) + pad), "white")
        draw = ImageDraw.Draw(sheet)
        draw.text((4, 4), f"{prompt!r}  ({resolve_plan(prompt).describe()}; steps {args.steps})", fill="black")
        for r, tiles in enumerate(rows):
            for c, (img, label) in enumerate(tiles):
                y = pad + r * (args.tile + pad)
                sheet.paste(img, (c * args.tile, y))
                draw.text((c * args.tile + 4, y + args.tile + 4), label, fill="black")
        name = args.out / f"{prompt.replace(' ', '_')}.png"
        sheet.save(name)
        print(name, flush=True)


if __name__ == "__main__":
    main()
