"""Strength x protection x look table of the parametric engine on the shared identities (README / issue 12).

    python benchmarks/protection_table.py --prompts "full glam" --out /tmp/protection.json
    python benchmarks/protection_table.py --prompts "full glam" "red lipstick" --strengths natural max --steps 40

Protocol. Every photo of every identity with >= 2 photos is a source; its pair photo (the anchor the engine dodges)
is the next photo of the same person. The protected photo is judged against *every other* photo of that person:

- leave-one-out: with M >= 2 FR models, for each held-out model h the engine optimises on the other M - 1 and h
  judges (cosine to the reference photo's crop below h's verdict threshold = protected); the column is the mean over
  held-out models. With a single model there is nothing to hold out and the column reads "n/a".
- dlib-bin: dlib's own pipeline on the written (pasted-back, full-resolution) photo vs the reference photo,
  protected when the descriptor distance exceeds 0.6; the photo is the leave-one-out run that held dlib's port out
  (so no surrogate is dlib), or, with dlib as the only model, one optimised on it.
- ``--sources-per-person N`` protects only the first N photos of each person (every other photo still judges).
- look: face-box SSIM and the high-frequency energy of the makeup layer (`quality_report`), mean over sources.

PSR = protected pairs / judged pairs. Prints a markdown table; ``--out`` also writes every row as JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IDENTITIES = ROOT.parent / "shared" / "data" / "identities"  # ../shared beside the clone (DESIGN.md)


def protect_face(surrogates, config, crop, mask, prompt, plan, pair_crop, aligned):
    """One source face protected by the parametric engine optimised against ``surrogates``."""
    from masque.engines import create_engine
    from masque.pipeline import make_job

    engine = create_engine("parametric", embedders=surrogates, config=config)
    return engine.protect(make_job(engine, crop, mask, prompt, regions=plan.regions, plan=plan, anchors=[pair_crop],
                                   aligned=aligned))


def available_models() -> list:
    from masque.embedders import create_embedder, list_embedders
    from masque.embedders.registry import TEST_ONLY
    from masque.errors import MasqueError

    out = []
    for name in list_embedders():
        if name in TEST_ONLY:
            continue
        with contextlib.suppress(MasqueError):  # a model whose weights are not installed is left out
            out.append(create_embedder(name))
    return out


def load_people(root: Path, template):
    from masque.faces.align import align_face
    from masque.faces.detect import detect_faces
    from masque.io import read_image

    people = {}
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = []
        for path in sorted(q for q in person.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png")):
            rgb = read_image(path).rgb
            faces = detect_faces(rgb)
            if faces:
                photos.append((path, rgb, faces[0], align_face(rgb, faces[0], template)))
        if len(photos) >= 2:
            people[person.name] = photos
    return people


def main(argv: list[str] | None = None) -> None:
    from masque.embedders.dlib_chip import dlib_face_tools
    from masque.engines.parametric import ParametricConfig
    from masque.faces.align import crop_to_tensor, tensor_to_crop
    from masque.faces.paste import paste_back
    from masque.faces.regions import RegionMasker
    from masque.faces.templates import generation_template
    from masque.makeup import STRENGTHS, resolve_plan

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", nargs="*", default=["full glam"])
    ap.add_argument("--strengths", nargs="*", default=list(STRENGTHS))
    ap.add_argument("--steps", type=int, default=ParametricConfig.steps)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--optimise-size", type=int, default=ParametricConfig.optimise_size,
                    help="side the settings are optimised at (0: the crop's own size)")
    ap.add_argument("--faces", type=Path, default=IDENTITIES)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--people", type=int, default=None, help="only the first N identities (alphabetical)")
    ap.add_argument("--sources-per-person", type=int, default=None,
                    help="protect only the first N photos of each person (all others still judge)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = available_models()
    names = [m.name for m in models]
    template, masker, tools = generation_template(256), RegionMasker(), dlib_face_tools()
    people = dict(list(load_people(args.faces, template).items())[:args.people])
    # leave-one-out splits; one model: optimise on it, nothing held out
    splits = [([m for m in models if m.name != h.name], h) for h in models] if len(models) > 1 else []
    print(f"models {names}; {len(splits)} leave-one-out split(s); people {list(people)}; steps {args.steps}",
          flush=True)
    rows = []
    for prompt in args.prompts:
        for strength in args.strengths:
            plan = resolve_plan(prompt, strength)
            t0 = time.perf_counter()
            loo, dlib_bin, ssim, hf, nfe, steps = [], [], [], [], [], []
            by_model: dict[str, list[bool]] = {}
            for photos in people.values():
                for i, (_path, rgb, face, al) in enumerate(photos[:args.sources_per_person]):
                    pair = photos[(i + 1) % len(photos)]
                    refs = [p for j, p in enumerate(photos) if j != i]
                    mask = masker(al, plan.regions)
                    crop = crop_to_tensor(al.crop)
                    held_out = {}
                    config = ParametricConfig(steps=args.steps, strength=strength,
                                              optimise_size=args.optimise_size or None)
                    job_args = (crop, torch.from_numpy(mask)[None, None], prompt, plan, crop_to_tensor(pair[3].crop),
                                al)
                    for surrogates, held in splits:
                        res = protect_face(surrogates, config, *job_args)
                        held_out[held.name] = res
                        nfe.append(res.trace.nfe())
                        steps.append(res.details["iterations"])
                        with torch.no_grad():
                            e = held(res.image)
                            for ref in refs:
                                cos = float(e @ held(crop_to_tensor(ref[3].crop)).T)
                                loo.append(cos < held.verdict_threshold)
                                by_model.setdefault(held.name, []).append(cos < held.verdict_threshold)
                    # dlib-bin on the written photo: the run that held dlib's port out (so dlib-bin is independent
                    # of every surrogate), else one optimised on every model
                    res = held_out.get("dlib") or protect_face(models, config, *job_args)
                    out = paste_back(rgb, al, tensor_to_crop(res.image), mask)
                    after = tools.face_descriptor(out, face.box)
                    for ref in refs:
                        d_ref = tools.face_descriptor(ref[1], ref[2].box)
                        if d_ref is None:
                            continue
                        dist = float("inf") if after is None else float(np.linalg.norm(after - d_ref))
                        dlib_bin.append(dist > 0.6)
                    ssim.append(res.details["quality"]["face_ssim"])
                    hf.append(res.details["quality"]["hf_energy"])
            row = {"prompt": prompt, "strength": strength, "loo_psr": float(np.mean(loo)) if loo else None,
                   "loo_pairs": len(loo),
                   "loo_psr_by_held_out": {k: float(np.mean(v)) for k, v in by_model.items()},
                   "dlib_bin_psr": float(np.mean(dlib_bin)), "dlib_bin_pairs": len(dlib_bin),
                   "face_ssim": float(np.mean(ssim)), "hf_energy": float(np.mean(hf)), "models": names,
                   "seconds": time.perf_counter() - t0, "mean_nfe": float(np.mean(nfe)) if nfe else 0.0,
                   "mean_steps": float(np.mean(steps)) if steps else 0.0}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| prompt | strength | LOO PSR (held-out) | dlib-bin PSR | face SSIM | HF energy |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        loo = "n/a" if r["loo_psr"] is None else f"{100 * r['loo_psr']:.0f} % ({r['loo_pairs']})"
        print(f"| {r['prompt']} | {r['strength']} | {loo} | {100 * r['dlib_bin_psr']:.0f} % ({r['dlib_bin_pairs']}) "
              f"| {r['face_ssim']:.3f} | {r['hf_energy']:.2f} |")
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
