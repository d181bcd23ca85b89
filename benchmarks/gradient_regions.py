"""Where each FR model's dodging gradient lives on the face, against where the protective finish may go (issue 19).

    python benchmarks/gradient_regions.py                      # the frontier's 10 faces, every present model
    python benchmarks/gradient_regions.py --sources-per-person 1 --prompt "red lipstick"

For each source photo (the first ``--sources-per-person`` photos of every identity, each with the person's next photo
as the pair, as `protection_table.py --pairs next` does) and each present model m, the gradient g of
cos(f_m(x), f_m(pair)) with respect to the 256² generation crop x is split by where its energy |g|² lies:

- ``finish``: the finish's support for the prompt at ``--strength`` (`finish_support`: the paintable area minus the
  brows), where the optimiser may change pixels per pixel;
- ``openings``: eye openings, inner mouth and nostrils, which are never painted (`forbidden_mask`);
- ``brows``: brow hair outside both;
- ``elsewhere``: the rest of the crop (hair, forehead above the painted area, background, ears).

A recogniser that leans on pixels the finish cannot reach would explain poor transfer to it; the shares say whether
the region is the limit. Printed per face and as the mean over faces.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from protection_table import IDENTITIES, sources_with_next

PARTS = ("finish", "openings", "brows", "elsewhere")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--identities", type=Path, default=IDENTITIES)
    ap.add_argument("--sources-per-person", type=int, default=2)
    ap.add_argument("--prompt", default="full glam")
    ap.add_argument("--strength", default="max")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from masque.embedders import create_embedder, present_embedders
    from masque.engines.parametric import parametric_plan
    from masque.engines.parametric.engine import ParametricConfig
    from masque.engines.parametric.geometry import forbidden_mask
    from masque.engines.parametric.makeup import CosmeticLayer
    from masque.engines.parametric.render import Canvas, finish_support
    from masque.evaluation.faces import detect_and_align
    from masque.faces.regions import RegionMasker

    config = ParametricConfig(strength=args.strength)
    plan = parametric_plan(args.prompt, config=config)
    models = [create_embedder(n) for n in present_embedders()]
    masker = RegionMasker()

    shares: dict[str, list[np.ndarray]] = {m.name: [] for m in models}
    for person, source, pair_photo in sources_with_next(args.identities, args.sources_per_person):
        source_crop = detect_and_align(source, config.crop_size)
        face = source_crop.aligned()
        crop, anchor = source_crop.tensor(), detect_and_align(pair_photo, config.crop_size).tensor()
        mask = torch.from_numpy(masker(face, plan.regions))[None, None].float()
        canvas = Canvas.of(crop, mask, np.asarray(face.landmarks68, np.float64), crop.shape[-1])
        layer = CosmeticLayer(canvas.crop, canvas.landmarks, plan)
        finish = finish_support(canvas, layer)[0, 0] > 0
        openings = torch.from_numpy(forbidden_mask(canvas.landmarks, tuple(crop.shape[-2:])))
        brows = torch.from_numpy(layer.geo.regions.brows()) > 0
        parts = (finish, openings & ~finish, brows & ~finish & ~openings, ~(finish | openings | brows))
        row = []
        for model in models:
            x = crop.clone().requires_grad_()
            with torch.no_grad():
                target = model(anchor)
            (model(x) @ target.T).sum().backward()
            energy = (x.grad[0] ** 2).sum(0)
            share = np.array([float(energy[p].sum()) for p in parts]) / max(float(energy.sum()), 1e-30)
            shares[model.name].append(share)
            row.append(f"{model.name} " + "/".join(f"{v:.2f}" for v in share))
        print(f"{person}/{source.name} (finish covers {float(finish.float().mean()):.0%} of the crop): "
              + "; ".join(row), flush=True)
    print(f"mean share of |grad cos|^2 ({' / '.join(PARTS)}), {args.prompt!r} at {args.strength}:")
    for name, rows in shares.items():
        mean = np.mean(rows, axis=0)
        print(f"  {name}: " + " / ".join(f"{v:.2f}" for v in mean))


if __name__ == "__main__":
    main()
