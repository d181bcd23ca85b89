"""How much a protected JPEG changes outside the makeup, with the input's own tables (today) and at quality 95 (before).

    python benchmarks/bench_jpeg_fidelity.py [--photos DIR] [--steps 5]

Each JPEG is decoded, saved as a lossless PNG and that PNG is protected (parametric engine, dlib surrogate, "red
lipstick", PNG output): the pixels the protection changes are the makeup. The same protected pixels are then written
as JPEG the way `masque protect` does (`write_image`: the input's quantisation tables and subsampling) and, for
comparison, at quality 95 4:4:4 (the writer before). For each: the largest change (levels, 0-255) outside the makeup,
the same outside the makeup grown by 16 px (blocks the makeup touches are re-quantised as a whole), the 99.9th
percentile outside the makeup, the share of pixels outside the makeup that change at all, and the size / input size.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]


def outside_change(before: np.ndarray, after: np.ndarray, makeup: np.ndarray,
                   grow: int) -> tuple[int, float, float]:
    mask = Image.fromarray(makeup.astype(np.uint8) * 255)
    if grow:
        mask = mask.filter(ImageFilter.MaxFilter(2 * grow + 1))
    outside = np.asarray(mask) == 0
    diff = np.abs(before.astype(int) - after.astype(int)).max(axis=2)[outside]
    return int(diff.max(initial=0)), float(np.mean(diff > 0)), float(np.percentile(diff, 99.9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT / "tests" / "data" / "faces")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    from masque import api
    from masque.engines.parametric import ParametricConfig
    from masque.io import read_image, write_image

    protector = api.Protector(prompt="red lipstick", engine="parametric", surrogates=["dlib"], faces="largest",
                              engine_options={"config": ParametricConfig(steps=args.steps)})
    print(f"{'photo':<16}{'writer':<14}{'max out':>8}{'max out+16':>11}{'p99.9':>7}{'changed out':>12}"
          f"{'size/input':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for photo in sorted(args.photos.glob("*.jpg")):
            image = read_image(photo)
            lossless = Path(tmp) / f"{photo.stem}.in.png"
            Image.fromarray(image.rgb).save(lossless)
            png = Path(tmp) / f"{photo.stem}.png"
            protector.protect_photo(lossless, out=png)
            protected = read_image(png).rgb
            makeup = np.any(protected != image.rgb, axis=2)
            for label, quality in (("input tables", None), ("q95 4:4:4", 95)):
                out = Path(tmp) / f"{photo.stem}.{label[:2]}.jpg"
                write_image(out, protected, like=image, quality=quality)
                after = np.asarray(Image.open(out).convert("RGB"))
                worst, share, p999 = outside_change(image.rgb, after, makeup, 0)
                worst16, _, _ = outside_change(image.rgb, after, makeup, 16)
                ratio = out.stat().st_size / photo.stat().st_size
                print(f"{photo.name:<16}{label:<14}{worst:>8}{worst16:>11}{p999:>7.0f}{share:>12.1%}{ratio:>11.2f}")


if __name__ == "__main__":
    main()
