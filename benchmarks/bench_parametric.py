"""Seconds per face and peak memory of the parametric engine on CPU, on the shared test photos.

    python benchmarks/bench_parametric.py                     # every installed FR model, "full glam", 2 threads
    python benchmarks/bench_parametric.py --embedders dlib --prompt "red lipstick"
    python benchmarks/bench_parametric.py --embedders tiny-random --size 128

Each photo is protected against another photo of the same person (obama -> obama2, obama2 -> obama, obama3 ->
obama; biden, the only photo of its person, in single mode). Reported per face: seconds inside `engine.protect`,
iterations, FR NFE, cosine before/after per surrogate and dlib-bin's own descriptor distance from the pasted-back
protected photo to the pair photo (> 0.6 = no longer the same person for dlib).
Wall seconds depend on what else runs on the machine; process CPU seconds / threads estimates the wall time on idle
cores. Peak memory is the process's peak resident set size (`resource.getrusage`), which includes torch's allocations
(tracemalloc would miss them).
"""

from __future__ import annotations

import os

# OpenMP threads that busy-wait make torch on a shared 2-core machine 10-50x slower whenever other processes run
# (measured: 1.5 s vs 13-78 s per face); passive waiting keeps timings honest. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
PAIRS = [("obama.jpg", "obama2.jpg"), ("obama2.jpg", "obama.jpg"), ("obama3.jpg", "obama.jpg"), ("biden.jpg", None)]


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def load_face(path: Path, template):
    from masque.faces.align import align_face
    from masque.faces.detect import detect_faces
    from masque.io import read_image

    rgb = read_image(path).rgb
    faces = detect_faces(rgb)
    if not faces:
        raise SystemExit(f"no face found in {path}")
    return rgb, align_face(rgb, faces[0], template)


class DlibBin:
    """dlib's own pipeline (detector, 5-point shape, chip, ResNet) as the independent judge."""

    def __init__(self):
        import dlib

        from masque.faces.dlib_files import model_path

        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks.dat")))
        self.net = dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet_model_v1.dat")))

    def descriptor(self, rgb: np.ndarray) -> np.ndarray | None:
        dets = sorted(self.detector(rgb, 1), key=lambda r: r.area(), reverse=True)
        if not dets:
            return None
        return np.asarray(self.net.compute_face_descriptor(rgb, self.shape(rgb, dets[0])))


def main(argv: list[str] | None = None) -> None:
    from masque.embedders import create_embedder
    from masque.engines import create_engine
    from masque.engines.parametric import ParametricConfig
    from masque.errors import MasqueError
    from masque.faces.align import crop_to_tensor, tensor_to_crop
    from masque.faces.paste import paste_back
    from masque.faces.regions import RegionMasker
    from masque.faces.templates import generation_template

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedders", default="all", help="comma-separated FR models, or 'all' installed ones")
    ap.add_argument("--size", type=int, default=256, help="generation crop side")
    ap.add_argument("--steps", type=int, default=ParametricConfig.steps)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", default="full glam")
    ap.add_argument("--strength", default="natural")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from masque.embedders import list_embedders
    from masque.embedders.registry import TEST_ONLY
    from masque.makeup import resolve_plan

    names = ([n for n in list_embedders() if n not in TEST_ONLY] if args.embedders == "all"
             else args.embedders.split(","))
    embedders = []
    for name in names:
        try:
            embedders.append(create_embedder(name))
        except MasqueError as exc:
            print(f"note: {name!r} unavailable ({str(exc)[:80]}...)")
    if not embedders:
        print("note: no FR model available; falling back to tiny-random (timings only, no FR meaning)")
        embedders = [create_embedder("tiny-random")]
    args.embedder = ",".join(m.name for m in embedders)
    judge = DlibBin()
    config = ParametricConfig(steps=args.steps, strength=args.strength)
    plan = resolve_plan(args.prompt, args.strength)
    engine = create_engine("parametric", embedders=embedders, config=config)
    template = generation_template(args.size)
    masker = RegionMasker()
    print(f"embedder={args.embedder} size={args.size} steps<={args.steps} threads={args.threads} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} "
          f"prompt={args.prompt!r} strength={args.strength}")
    rows = []
    # one-time costs of the first call in a process (kernel selection, allocator warm-up), reported separately
    _, warm_aligned = load_face(FACES / PAIRS[0][0], template)
    warm_crop, warm_mask = crop_to_tensor(warm_aligned.crop), torch.from_numpy(masker(warm_aligned, plan.regions))
    t_warm = time.perf_counter()
    create_engine("parametric", embedders=embedders, config=ParametricConfig(steps=2)).protect(
        warm_crop, warm_mask[None, None], args.prompt, [warm_crop], landmarks=warm_aligned.landmarks68, plan=plan)
    print(f"first-call warm-up (2 steps, not counted below): {time.perf_counter() - t_warm:.2f} s")
    for src, pair in PAIRS:
        rgb, aligned = load_face(FACES / src, template)
        mask = masker(aligned, plan.regions)
        crop = crop_to_tensor(aligned.crop)
        anchors = [crop_to_tensor(load_face(FACES / pair, template)[1].crop)] if pair else [crop]
        cpu0 = time.process_time()
        res = engine.protect(crop, torch.from_numpy(mask)[None, None], args.prompt, anchors, seed=0,
                             landmarks=aligned.landmarks68, plan=plan)
        cpu = time.process_time() - cpu0
        secs = res.info["seconds"]
        line = (f"{src:>11} vs {pair or '(self)':>11}: {secs:6.2f} s wall, {cpu:6.2f} s CPU  "
                f"iters {res.info['iterations']:3d}  NFE {res.trace.nfe():4d}  cos " + ", ".join(
                    f"{k} {res.info['cosine_before'][k]:.3f}->{v:.3f}" for k, v in res.info["cosine_after"].items()))
        if judge is not None and pair:
            out = paste_back(rgb, aligned, tensor_to_crop(res.image), mask)
            d_prot, d_orig = judge.descriptor(out), judge.descriptor(rgb)
            d_pair = judge.descriptor(load_face(FACES / pair, template)[0])
            if d_prot is None:
                line += "  dlib-bin: no face detected after protection"
            else:
                line += (f"  dlib-bin dist to pair {np.linalg.norm(d_orig - d_pair):.3f}->"
                         f"{np.linalg.norm(d_prot - d_pair):.3f}")
        print(line, flush=True)
        rows.append((secs, cpu))
    wall, cpu = np.array(rows).T
    print(f"mean {wall.mean():.2f} s/face wall, {cpu.mean():.2f} s/face CPU "
          f"(~{cpu.mean() / args.threads:.2f} s wall on {args.threads} idle cores)"
          f"; peak RSS {peak_rss_mib():.0f} MiB; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total wall {time.perf_counter() - t0:.1f} s")
