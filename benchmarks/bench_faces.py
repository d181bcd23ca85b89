"""Seconds per shared test photo for each stage of the face stack: read, detect, landmarks, align, mask, paste.

    python benchmarks/bench_faces.py                    # HOG, automatic scaling, 64 landmark samples
    python benchmarks/bench_faces.py --detector cnn     # dlib's MMOD CNN (slow on CPU)
    python benchmarks/bench_faces.py --upsample 1 --landmark-samples 1 --repeat 3

Every stage is timed separately (best of ``--repeat`` runs, after one warm-up that loads the dlib models):
``detect`` finds boxes, ``landmarks`` runs the 68-point model on each box (``--landmark-samples`` jittered
predictions averaged), ``align`` warps to the 512 generation crop and the 112 ArcFace crop, ``mask`` builds the lips
mask and ``paste`` pastes an unchanged crop back into the full photo.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "32bit.png")


def best_of(repeat: int, fn):
    """(result of the last run, best wall time in seconds)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", default="hog", choices=("hog", "cnn"))
    parser.add_argument("--upsample", default="auto", help="'auto' or an integer (dlib's pyramid upsampling)")
    parser.add_argument("--landmark-samples", type=int, default=None, help="default: detect.LANDMARK_SAMPLES")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    upsample = args.upsample if args.upsample == "auto" else int(args.upsample)

    import numpy as np

    from masque.faces.align import align_face
    from masque.faces.detect import LANDMARK_SAMPLES, Face, detect_boxes, predict_landmarks
    from masque.faces.paste import paste_back
    from masque.faces.regions import RegionMasker
    from masque.faces.templates import ARCFACE_112, GENERATION_512
    from masque.io import read_image

    samples = LANDMARK_SAMPLES if args.landmark_samples is None else args.landmark_samples
    masker = RegionMasker()
    blank = np.zeros((64, 64, 3), np.uint8)
    detect_boxes(blank, detector=args.detector, upsample=0)  # load the models before timing
    predict_landmarks(blank, (0.0, 0.0, 63.0, 63.0), samples=1)
    print(f"detector={args.detector} upsample={upsample} landmark_samples={samples} repeat={args.repeat}")
    head = ("photo", "size", "faces", "read", "detect", "landmarks", "align", "mask", "paste", "total")
    print("{:<11} {:>10} {:>5} {:>6} {:>7} {:>9} {:>6} {:>6} {:>6} {:>6}".format(*head))
    totals = []
    for name in PHOTOS:
        img, t_read = best_of(args.repeat, lambda n=name: read_image(FACES / n))
        rgb = img.rgb
        boxes, t_det = best_of(args.repeat, lambda r=rgb: detect_boxes(r, detector=args.detector, upsample=upsample))
        lms, t_lm = best_of(
            args.repeat, lambda r=rgb, b=boxes: [predict_landmarks(r, bx, samples=samples) for bx, _ in b]
        )
        if not boxes:
            print(f"{name:<11} {rgb.shape[1]}x{rgb.shape[0]:<5} {0:>5}  (no face)")
            continue
        face = Face(box=tuple(round(v) for v in boxes[0][0]), landmarks68=lms[0], score=boxes[0][1])

        def align(r=rgb, f=face):
            return align_face(r, f, GENERATION_512), align_face(r, f, ARCFACE_112)

        (aligned, _), t_align = best_of(args.repeat, align)
        mask, t_mask = best_of(args.repeat, lambda a=aligned: masker(a, ["lips"]))
        _, t_paste = best_of(args.repeat, lambda r=rgb, a=aligned, m=mask: paste_back(r, a, a.crop, m))
        total = t_read + t_det + t_lm + t_align + t_mask + t_paste
        totals.append(total)
        size = f"{rgb.shape[1]}x{rgb.shape[0]}"
        print(
            f"{name:<11} {size:>10} {len(boxes):>5} {t_read:>6.3f} {t_det:>7.3f} {t_lm:>9.3f} {t_align:>6.3f} "
            f"{t_mask:>6.3f} {t_paste:>6.3f} {total:>6.3f}"
        )
    if totals:
        print(f"mean total per photo: {sum(totals) / len(totals):.3f} s")


if __name__ == "__main__":
    main()
