"""Occlusion evidence on every face of the shared photos: the numbers `masque.faces.occlusion`'s constants rest on.

    python benchmarks/occlusion_survey.py [--photos DIR ...] [--size 256] [--draw OUTDIR]

For every face (default photos: ../shared/data/groups, ../shared/data/identities, tests/data/faces) prints, per
region, the share of occluder-like pixels (``covered``, of which ``dark``), the landmark spread in eye distances and
whether the region is judged occluded; then, per region, the largest share on faces with no occluded region next to
the smallest on the occluded ones. ``--dark`` / ``--occluded`` try other thresholds. ``--draw`` writes each crop
with the cut occluder tinted yellow, to check by eye.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from bench_detect import photos  # the same photo list (run as `python benchmarks/occlusion_survey.py`)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"  # ../shared/data beside the clone (ARCHITECTURE.md); pass --photos otherwise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, nargs="*",
                        default=[SHARED / "groups", SHARED / "identities", ROOT / "tests" / "data" / "faces"])
    parser.add_argument("--size", type=int, default=256, help="crop side (the parametric engine's 256)")
    parser.add_argument("--dark", type=float, default=None)
    parser.add_argument("--occluded", type=float, default=None)
    parser.add_argument("--work-side", type=int, default=None)
    parser.add_argument("--draw", type=Path, default=None)
    args = parser.parse_args()

    from masque.faces.align import align_face
    from masque.faces.detect import detect
    from masque.faces.occlusion import OcclusionConfig, find_occlusion
    from masque.faces.regions import REGIONS
    from masque.faces.templates import generation_template
    from masque.io import read_image

    config = OcclusionConfig()
    config = replace(config, **{k: v for k, v in (("dark", args.dark), ("occluded", args.occluded),
                                                             ("work_side", args.work_side)) if v is not None})
    template = generation_template(args.size)
    clear: dict[str, float] = dict.fromkeys(REGIONS, 0.0)
    seen: set[bytes] = set()
    spreads: dict[str, list[float]] = {"clear": [], "occluded": []}
    for path in photos(args.photos):
        rgb = read_image(path).rgb
        for i, face in enumerate(detect(rgb).faces):
            al = align_face(rgb, face, template)
            key = al.crop.tobytes()[::97]
            if key in seen:  # the same photo in two folders
                continue
            seen.add(key)
            spread = face.landmark_spread * al.scale
            occ = find_occlusion(al.crop, al.landmarks68, spread, config)
            bare = occ.bare(REGIONS)
            cells = " ".join(f"{r}:{o.covered:.2f}/{o.dark:.2f}/{o.spread:.3f}{'*' if o.occluded else ''}"
                             for r, o in occ.regions.items())
            print(f"{path.parent.name}/{path.name}#{i} L={occ.skin[0]:.0f} C={occ.skin[1]:.1f} {cells} "
                  f"cut={int(occ.cut.sum())}px bare={','.join(bare) or '-'}")
            spreads["occluded" if bare else "clear"] += [o.spread for o in occ.regions.values()]
            if not bare:
                for r, o in occ.regions.items():
                    clear[r] = max(clear[r], o.covered)
            if args.draw is not None:
                from PIL import Image

                img = al.crop.copy()
                img[occ.cut] = (img[occ.cut] // 2 + [127, 127, 0]).astype(np.uint8)
                args.draw.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(args.draw / f"{path.stem}_{i}.png")
    print("largest covered share on faces with nothing occluded:", " ".join(f"{r}={v:.2f}" for r, v in clear.items()))
    for k, v in spreads.items():
        if v:
            print(f"landmark spread (eye distances), {k} faces: max {max(v):.3f}, min {min(v):.3f}")


if __name__ == "__main__":
    main()
