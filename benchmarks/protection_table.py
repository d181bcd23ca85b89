"""The protection frontier of the parametric engine: strength x finish amplitude on the shared identities (issue 19).

    python benchmarks/protection_table.py --strengths natural --finishes 0 4 6 8 12 --out /tmp/frontier.json
    python benchmarks/protection_table.py --strengths subtle natural bold max          # each level's own preset

It runs what ships: one `masque.api.Protector` per held-out model (the engine optimised on every other present FR
model; `FacePipeline`: prepare → engine → paste back → write → judge the written file) and reads the one verdict rule
(`masque.pipeline.verdict`) off the sidecar's verdicts. Protocol:

- sources: the first ``--sources-per-person`` photos of each identity with >= 2 photos; pairs (the anchors and the
  references the judges compare with): ``--pairs next`` the next photo of the same person, ``all`` every other photo
  (several pair photos used together; the default, which every published row used);
- leave-one-out: the held-out model h judges the written photo (`ModelVerdict` row of role "held-out": protected when
  it matches none of the references, `ModelVerdict.recognised`). ``--rotate`` (default) holds out one model per face,
  cycling through the present models across faces (so each face is optimised once per setting); ``--no-rotate`` holds
  out every model for every face. PSR per held-out model and overall;
- dlib-bin: dlib's own pipeline on the written photo, the same verdict rule (independent of every surrogate only in
  the runs that held dlib's port out — the column counts every run);
- white-box: per face, did the optimiser beat every one of its own surrogates (`details["white_box"]`);
- look: face-box SSIM on the crop (`quality_report`), MS-SSIM of the written photo's face box at full resolution
  against the original, and seconds per face (the whole `protect_photo`, judging included; the machine was shared).

Prints a markdown table; ``--out`` also writes every row (and every face) as JSON; ``--write-measured FILE`` writes
the rows in the format the product reads (`masque.makeup.expected`: counts, rates, 95 % Wilson intervals and the
resolved settings of each row); to update what `masque protect` and the web page say before the wait:

    python benchmarks/protection_table.py --strengths subtle natural bold max --sources-per-person 2 \
        --write-measured src/masque/makeup/measured/frontier.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IDENTITIES = next((p for p in (ROOT.parent / "shared" / "data" / "identities",  # ../shared beside the clone
                   Path("/work/shared/data/identities")) if p.is_dir()), ROOT.parent / "shared" / "data" / "identities")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def people(root: Path, limit: int | None) -> dict[str, list[Path]]:
    out = {}
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(q for q in person.iterdir() if q.suffix.lower() in PHOTO_SUFFIXES)
        if len(photos) >= 2:
            out[person.name] = photos
    return dict(list(out.items())[:limit])


def sources_with_next(root: Path, per_person: int) -> list[tuple[str, Path, Path]]:
    """(person, source, pair): each person's first ``per_person`` photos, each with the person's next photo (the
    first one for the last) as its pair, as ``--pairs next`` uses them."""
    return [(person, photos[i], photos[(i + 1) % len(photos)]) for person, photos in people(root, None).items()
            for i in range(min(per_person, len(photos)))]


def face_box_ms_ssim(original: np.ndarray, written: np.ndarray, box) -> float:
    from masque.engines.parametric.quality import ms_ssim

    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = original.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return ms_ssim(original[y0:y1, x0:x1], written[y0:y1, x0:x1])


def held_out_row(verdict, role: str, name: str | None = None):
    return next(m for m in verdict.models if m.role == role and (name is None or m.model == name))


def main(argv: list[str] | None = None) -> None:
    from masque.api import Protector
    from masque.embedders import present_embedders
    from masque.engines.parametric import STRENGTH_PRESETS, ParametricConfig
    from masque.io import read_image
    from masque.makeup import STRENGTHS
    from masque.makeup.expected import settings_of
    from masque.pipeline.verdict import PROTECTED

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", nargs="*", default=["full glam"])
    ap.add_argument("--strengths", nargs="*", default=list(STRENGTHS))
    ap.add_argument("--finishes", nargs="*", default=["preset"],
                    help="finish amplitudes in /255 to try at each strength ('preset': the strength's own)")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default: each strength's preset)")
    ap.add_argument("--eot", choices=("preset", "on", "off"), default="preset",
                    help="optimise under the cheap EOT (default: each strength's preset)")
    ap.add_argument("--stop-margin", type=float, default=None,
                    help="early-stop margin (`ParametricConfig.stop_margin`); negative: never stop early")
    ap.add_argument("--finish-coarse", type=float, default=None, help="band-pass high edge σ (`FinishConfig.coarse`)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a `ParametricConfig` field for every row, dotted for nested ones "
                         "(e.g. finish_lr=0.6, objective.floor=-0.3, objective.terms.repel.weight=0, "
                         "objective.eot.flip=0.5, finish_shape.coarse=3); repeatable")
    ap.add_argument("--models", nargs="*", default=None, help="FR models to use (default: every present one)")
    ap.add_argument("--rotate", action=argparse.BooleanOptionalAction, default=True,
                    help="hold out one model per face, cycling across faces (default) instead of every model")
    ap.add_argument("--held-out", nargs="*", default=None, metavar="MODEL",
                    help="hold out each of these models for every face (instead of the rotation)")
    # "all" (what every published row used): the judge holds every other photo of the person and recognises the face
    # when it matches any of them; "next": only the next photo
    ap.add_argument("--pairs", choices=("next", "all"), default="all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--faces", type=Path, default=IDENTITIES)
    ap.add_argument("--people", type=int, default=None, help="only the first N identities (alphabetical)")
    ap.add_argument("--sources-per-person", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None, metavar="PHOTO",
                    help="run only these photos (file names), keeping the held-out model the rotation gave them")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--write-measured", type=Path, default=None, metavar="FILE",
                    help="write the rows as the product's results file (src/masque/makeup/measured/frontier.json)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep every written photo as KEEP/<strength>_<finish>/<photo>.png (for contact_sheet.py)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models or present_embedders()
    if len(names) < 2:
        raise SystemExit(f"leave-one-out needs >= 2 FR models, present: {names}; run `masque models fetch --all-fr`")
    crowd = people(args.faces, args.people)
    sources = [(person, i) for person, photos in crowd.items() for i in range(min(args.sources_per_person,
                                                                                  len(photos)))]
    plan_of = {k: [names[j % len(names)]] if args.rotate else names for j, k in enumerate(sources)}
    if args.held_out:
        plan_of = {k: list(args.held_out) for k in sources}
    if args.only is not None:
        plan_of = {(person, i): held for (person, i), held in plan_of.items()
                   if crowd[person][i].name in args.only}
    print(f"models {names}; faces {len(sources)} (held out: "
          f"{args.held_out or ('rotating' if args.rotate else 'every model')}); "
          f"pairs {args.pairs}", flush=True)
    protectors: dict[str, Protector] = {}
    rows, tmp = [], Path(tempfile.mkdtemp(prefix="masque-frontier-"))
    for prompt in args.prompts:
        for strength in args.strengths:
            for finish in args.finishes:
                amp = STRENGTH_PRESETS[strength].finish if finish == "preset" else float(finish)
                eot = None if args.eot == "preset" else args.eot == "on"
                config = ParametricConfig(strength=strength, finish=amp, steps=args.steps, eot=eot)
                tag = f"{strength}_{amp:g}" + ("" if eot is None else f"-eot{args.eot}")
                if args.stop_margin is not None:
                    config = (replace(config, stop_threshold=None) if args.stop_margin < 0
                              else replace(config, stop_margin=args.stop_margin))
                    tag += f"-stop{args.stop_margin:g}"
                if args.finish_coarse is not None:
                    config = replace(config, finish_shape=replace(config.finish_shape, coarse=args.finish_coarse))
                    tag += f"-coarse{args.finish_coarse:g}"
                if args.pairs == "next":
                    tag += "-pairnext"
                for item in args.overrides:
                    config = override(config, item)
                    tag += f"-{item}"
                faces = []
                for (person, i), held_names in plan_of.items():
                    photos = crowd[person]
                    pairs = [photos[(i + 1) % len(photos)]] if args.pairs == "next" else [
                        p for j, p in enumerate(photos) if j != i]
                    original = read_image(photos[i]).rgb
                    for held in held_names:
                        if held not in protectors:
                            protectors[held] = Protector(prompt, engine="parametric", surrogates=[
                                n for n in names if n != held], judges=names, faces="largest", overwrite=True,
                                engine_options={"config": config})
                        protector = protectors[held]
                        protector.engine.config = config  # same loaded models, this setting
                        protector = protector.with_prompt(prompt)
                        t0 = time.perf_counter()
                        folder = tmp if args.keep is None else args.keep / tag
                        folder.mkdir(parents=True, exist_ok=True)
                        report = protector.protect_photo(photos[i], out=folder / f"{photos[i].stem}.png", pair=pairs)
                        seconds = time.perf_counter() - t0
                        face = report.faces[0]
                        verdict = face.verdict
                        written = read_image(report.output).rgb
                        faces.append({
                            "photo": photos[i].name, "held_out": held,
                            "loo": held_out_row(verdict, "held-out", held).verdict == PROTECTED,
                            "dlib_bin": (held_out_row(verdict, "independent").verdict == PROTECTED
                                         if any(m.role == "independent" for m in verdict.models) else None),
                            "held_out_margin": margin(held_out_row(verdict, "held-out", held)),
                            "white_box": face.engine["white_box"], "status": verdict.status,
                            "face_ssim": face.engine["quality"]["face_ssim"],
                            # the look without the shape: the output moved back by its known motion
                            "texture_ssim": face.engine["quality"].get("texture_ssim",
                                                                       face.engine["quality"]["face_ssim"]),
                            "reshape": face.engine.get("reshape"),
                            "ms_ssim": face_box_ms_ssim(original, written, verdict.box),
                            "finish_used": (face.engine.get("finish") or {}).get("mean_abs"),
                            "iterations": face.engine["iterations"], "seconds": seconds,
                            "engine_seconds": face.engine["seconds"]})
                        print(json.dumps({"strength": strength, "finish": amp, **faces[-1]}), flush=True)
                rows.append({**summarise(prompt, strength, amp, config.resolved(), faces), "tag": tag,
                             "settings": settings_of(config.resolved())})
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "faces"}), flush=True)
    print_table(rows)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2))
    if args.write_measured is not None:
        import sys

        from masque.atomic import write_atomic
        from masque.makeup.expected import measured_document, measured_rows

        command = "python benchmarks/protection_table.py " + " ".join(argv if argv is not None else sys.argv[1:])
        new = [replace(measured_row(r), command=command) for r in rows]
        # rows of the other looks and strengths stay: each level may be measured by its own run
        kept = [] if not args.write_measured.exists() else [
            r for r in measured_rows(args.write_measured) if (r.prompt, r.strength) not in
            {(n.prompt, n.strength) for n in new}]
        write_atomic(args.write_measured, measured_document(kept + new, command=command, judges=names))


def measured_row(row: dict):
    """One printed row as the product's `MeasuredRow`: each outcome a count of faces (95 % Wilson interval)."""
    from masque.makeup.expected import MeasuredRow, Outcome

    faces = row["faces"]
    dlib = [f["dlib_bin"] for f in faces if f["dlib_bin"] is not None]
    outcomes = {"leave_one_out": Outcome.of(sum(f["loo"] for f in faces), len(faces)),
                **({"dlib_bin": Outcome.of(sum(dlib), len(dlib))} if dlib else {}),
                "white_box": Outcome.of(sum(all(f["white_box"].values()) for f in faces), len(faces)),
                "protected": Outcome.of(sum(f["status"] == "protected" for f in faces), len(faces))}
    return MeasuredRow(row["prompt"], row["strength"], row["settings"], len(faces), outcomes,
                       round(row["face_ssim"], 3), round(row["seconds"], 1),
                       round(row.get("texture_ssim", row["face_ssim"]), 3),
                       round(row.get("reshape_iod_pct_max", 0.0), 2))


def override(config, item: str):
    """``config`` with one ``FIELD=VALUE`` (dotted for nested dataclasses; VALUE parsed as JSON, else a string).

    The objective's terms are addressed by kind: ``objective.terms.repel.weight=0`` changes a term,
    ``objective.terms.spread.weight=0.5`` adds one (at its defaults otherwise), so every registered term
    (`masque.adversarial.TERMS`) is an experiment without a code change."""
    key, _, raw = item.partition("=")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(config, tuple):  # the objective's terms, by kind
        return override_term(config, key, raw)
    head, _, rest = key.partition(".")
    if not hasattr(config, head):
        raise SystemExit(f"--set: {type(config).__name__} has no field {head!r}")
    current = getattr(config, head)
    if current is None and rest and head == "eot":  # the engine's default EOT, before it is resolved
        from masque.engines.parametric.engine import FINISH_EOT

        current = FINISH_EOT
    return replace(config, **{head: override(current, f"{rest}={raw}") if rest else value})


def override_term(terms: tuple, key: str, raw: str) -> tuple:
    from masque.adversarial import TERMS

    kind, _, rest = key.partition(".")
    if kind not in TERMS:
        raise SystemExit(f"--set: no objective term {kind!r}; registered: {sorted(TERMS)}")
    if not rest:
        raise SystemExit(f"--set: name a field of the {kind!r} term, e.g. objective.terms.{kind}.weight=1")
    old = next((t for t in terms if t.kind == kind), None)
    new = override(old if old is not None else TERMS[kind](), f"{rest}={raw}")
    return tuple(new if t is old else t for t in terms) + (() if old is not None else (new,))


def margin(row) -> float:
    """How far the judge's closest reference is past its threshold, in units of the threshold's headroom
    (cosine: (c − t) / (1 − t); l2: (t − d) / t): positive = still recognised; a continuous view of one LOO bit."""
    values = [v for v in (row.vs_references or {"original": row.vs_original}).values() if v is not None]
    if not values:
        return -1.0
    if row.metric == "cosine":
        return (max(values) - row.threshold) / max(1.0 - row.threshold, 1e-3)
    return (row.threshold - min(values)) / max(row.threshold, 1e-3)


def summarise(prompt: str, strength: str, finish: float, config, faces: list[dict]) -> dict:
    mean = lambda key: float(np.mean([f[key] for f in faces]))  # noqa: E731
    by_model: dict[str, list[bool]] = {}
    for f in faces:
        by_model.setdefault(f["held_out"], []).append(f["loo"])
    dlib_bin = [f["dlib_bin"] for f in faces if f["dlib_bin"] is not None]
    return {"prompt": prompt, "strength": strength, "finish": finish, "steps": config.steps,
            "eot": config.objective.eot is not None, "faces_n": len(faces),
            "loo_psr": mean("loo"), "held_out_margin": mean("held_out_margin"),
            "loo_by_held_out": {k: float(np.mean(v)) for k, v in by_model.items()},
            "dlib_bin_psr": float(np.mean(dlib_bin)) if dlib_bin else None, "dlib_bin_n": len(dlib_bin),
            "white_box_all": float(np.mean([all(f["white_box"].values()) for f in faces])),
            "protected": float(np.mean([f["status"] == "protected" for f in faces])),  # no judge matches at all
            "face_ssim": mean("face_ssim"), "texture_ssim": mean("texture_ssim"), "ms_ssim": mean("ms_ssim"),
            "reshape": config.reshape, "reshape_iod_pct_max": max(
                ((f["reshape"] or {}).get("max_landmark_iod_pct", 0.0) for f in faces), default=0.0),
            "seconds": mean("seconds"),
            "engine_seconds": mean("engine_seconds"), "iterations": mean("iterations"), "faces": faces}


def print_table(rows: list[dict]) -> None:
    print("\n| prompt | strength | finish ε (/255) | steps | LOO PSR | per held-out model | dlib-bin PSR | white-box "
          "(all surrogates beaten) | protected (no judge matches) "
          "| held-out margin | face SSIM | MS-SSIM (photo) | s/face |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        n = r["faces_n"]
        per = ", ".join(f"{k} {round(100 * v)} %" for k, v in sorted(r["loo_by_held_out"].items()))
        dlib = "n/a" if r["dlib_bin_psr"] is None else f"{100 * r['dlib_bin_psr']:.0f} % ({r['dlib_bin_n']})"
        print(f"| {r['prompt']} | {r['strength']} | {r['finish']:g} | {r['steps']} (mean {r['iterations']:.0f}) | "
              f"{100 * r['loo_psr']:.0f} % ({n}) | {per} | {dlib} | {100 * r['white_box_all']:.0f} % | "
              f"{100 * r['protected']:.0f} % | "
              f"{r['held_out_margin']:+.3f} | "
              f"{r['face_ssim']:.3f} | {r['ms_ssim']:.4f} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
