"""Labelled before/after contact sheets of the parametric engine on real faces (look at them at 100 %).

    python benchmarks/contact_sheet.py --out /tmp/sheets                       # every prompt x strength, 0 steps
    python benchmarks/contact_sheet.py --prompts "full glam" --strengths bold --steps 20 --out /tmp/sheets

One PNG per prompt: rows = faces (first photo of each shared identity), columns = before, then each strength. Each
tile is the face region cut from the full-resolution photo after paste-back, with the face-box SSIM and the
high-frequency energy of the makeup layer printed under it. ``--steps 0`` renders the tutorial (reference) makeup;
``--steps N`` optimises against dlib (the look the user actually gets). The images are not committed.
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
IDENTITIES = ROOT.parent / "shared" / "data" / "identities"  # ../shared beside the clone (DESIGN.md)
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


def main(argv: list[str] | None = None) -> None:
    from masque.embedders import create_embedder
    from masque.engines import create_engine
    from masque.engines.parametric import ParametricConfig
    from masque.faces.align import align_face, crop_to_tensor, tensor_to_crop
    from masque.faces.detect import detect_faces
    from masque.faces.paste import paste_back
    from masque.faces.regions import RegionMasker
    from masque.faces.templates import generation_template
    from masque.io import read_image
    from masque.makeup import resolve_plan
    from masque.pipeline import make_job

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--prompts", nargs="*", default=list(PROMPTS))
    ap.add_argument("--strengths", nargs="*", default=list(STRENGTHS))
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--tile", type=int, default=384)
    ap.add_argument("--faces", type=Path, default=IDENTITIES)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    embedders = [create_embedder("dlib")]
    template, masker = generation_template(256), RegionMasker()
    faces = []
    for path in first_photos(args.faces):
        rgb = read_image(path).rgb
        found = detect_faces(rgb)
        if found:
            faces.append((path, rgb, found[0], align_face(rgb, found[0], template)))
    for prompt in args.prompts:
        rows = []
        for path, rgb, face, al in faces:
            tiles = [(face_tile(rgb, face.box, args.tile), f"{path.stem}: before")]
            for strength in args.strengths:
                plan = resolve_plan(prompt, strength)
                engine = create_engine("parametric", embedders=embedders,
                                       config=ParametricConfig(steps=args.steps, strength=strength))
                mask = masker(al, plan.regions)
                crop = crop_to_tensor(al.crop)
                res = engine.protect(make_job(engine, crop, torch.from_numpy(mask)[None, None], prompt,
                                              regions=plan.regions, plan=plan, aligned=al))
                out = paste_back(rgb, al, tensor_to_crop(res.image), mask)
                q = res.details["quality"]
                cos = next(iter(res.similarity_after.values()))
                tiles.append((face_tile(out, face.box, args.tile),
                              f"{strength}: ssim {q['face_ssim']:.3f} hf {q['hf_energy']:.2f} dlib cos {cos:.3f}"))
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
