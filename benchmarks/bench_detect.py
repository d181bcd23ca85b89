"""Face-detector recall and cost on the shared photos: which detector finds the faces a person sees, how fast.

    python benchmarks/bench_detect.py [--photos DIR ...] [--draw OUTDIR] [--repeat 2]

For every photo (default: ../shared/data/groups, ../shared/data/identities/*, tests/data/faces) and every detector
setting below, prints the faces found and the detection seconds (best of ``--repeat``, models loaded beforehand;
landmarks excluded). A face counts as the same across settings when boxes overlap (IoU >= 0.3); the union over all
settings is the reference (``--draw`` writes each photo with the union's boxes, numbered, to check by eye that every
face a person sees is there and nothing else), and recall = faces found / faces in the union.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"  # ../shared/data beside the clone (ARCHITECTURE.md); pass --photos otherwise
# (label, detector, upsample, working pixels for "auto")
SETTINGS = [
    ("hog@1MP", "hog", "auto", 1_000_000),
    ("hog@2MP", "hog", "auto", 2_000_000),
    ("hog@4MP", "hog", "auto", 4_000_000),
    ("hog up1", "hog", 1, None),
    ("cnn@0.25MP", "cnn", "auto", 250_000),
    ("cnn@0.5MP", "cnn", "auto", 500_000),
    ("cnn@2MP", "cnn", "auto", 2_000_000),  # the thorough reference: ~4x the pixels of cnn's own auto size
]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def photos(folders: list[Path]) -> list[Path]:
    """Every image under ``folders`` (recursively), sorted per folder."""
    from masque.evaluation.datasets import IMAGE_SUFFIXES

    return [p for folder in folders for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, nargs="*",
                        default=[SHARED / "groups", SHARED / "identities", ROOT / "tests" / "data" / "faces"])
    parser.add_argument("--draw", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="labels of the settings to run (default: all)")
    args = parser.parse_args()
    settings = [s for s in SETTINGS if args.only is None or s[0] in args.only]

    from masque.faces.detect import detect_boxes
    from masque.io import read_image

    found: dict[str, dict[str, list]] = {}
    seconds: dict[str, list[float]] = {label: [] for label, *_ in settings}
    for path in photos(args.photos):
        rgb = read_image(path).rgb
        found[path.name] = {}
        for label, detector, upsample, pixels in settings:
            detect_boxes(rgb[:64, :64], detector=detector, upsample=0)  # load the model outside the timing
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                boxes = detect_boxes(rgb, detector=detector, upsample=upsample, pixels=pixels)
                best = min(best, time.perf_counter() - t0)
            seconds[label].append(best)
            found[path.name][label] = [b for b, _ in boxes]
        union: list = []
        for boxes in found[path.name].values():
            for b in boxes:
                if all(iou(b, u) < 0.3 for u in union):
                    union.append(b)
        found[path.name]["union"] = union
        if args.draw:
            draw(path, rgb, union, args.draw)

    labels = [label for label, *_ in settings]
    print(f"{'photo':<22}{'union':>6}" + "".join(f"{label:>12}" for label in labels))
    total_union, total_found = 0, dict.fromkeys(labels, 0)
    for name, per in found.items():
        union = per["union"]
        total_union += len(union)
        row = f"{name:<22}{len(union):>6}"
        for label in labels:
            hits = sum(any(iou(u, b) >= 0.3 for b in per[label]) for u in union)
            total_found[label] += hits
            row += f"{hits:>12}"
        print(row)
    print(f"{'recall':<28}" + "".join(f"{total_found[label] / max(total_union, 1):>12.0%}" for label in labels))
    print(f"{'median s':<28}" + "".join(f"{np.median(seconds[label]):>12.2f}" for label in labels))
    print(f"{'max s':<28}" + "".join(f"{max(seconds[label]):>12.2f}" for label in labels))


def draw(path: Path, rgb, boxes, out: Path) -> None:
    from PIL import Image, ImageDraw

    out.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(rgb)
    d = ImageDraw.Draw(img)
    for i, b in enumerate(boxes):
        d.rectangle(b, outline=(255, 0, 0), width=max(2, img.width // 300))
        d.text((b[0] + 4, b[1] + 4), str(i + 1), fill=(255, 255, 0))
    img.thumbnail((900, 900))
    img.save(out / f"{path.stem}.png")


if __name__ == "__main__":
    main()
