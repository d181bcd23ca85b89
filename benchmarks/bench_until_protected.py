"""`masque protect --until-protected` on the shared identities: how many faces hold within the cap, at which levels.

    python benchmarks/bench_until_protected.py --out /tmp/until               # "full glam", natural -> max
    python benchmarks/bench_until_protected.py --out /tmp/until --sources-per-person 2   # the frontier's 10 faces
    python benchmarks/bench_until_protected.py --prompt "full glam" --strength subtle --max-strength bold -- --steps 30

For each person of ``../shared/data/identities`` (sorted) the first photo is protected with the second as ``--pair``
(with ``--sources-per-person N``: each of the first N photos, with the person's next photo as ``--pair``),
one fresh `masque protect` process each (the command a person runs), with every present FR model: without
``--surrogates`` escalation holds one out by its rule (`masque.pipeline.escalate.held_out_model`) and dlib-bin judges
the written file. Printed per face: the levels tried with the status at each, the level reached, the command's wall
seconds and the sidecar's engine / judge seconds; then how many faces were protected within the cap. Arguments after
``--`` go to `masque protect`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from protection_table import IDENTITIES, sources_with_next

MASQUE = [sys.executable, "-c", "from masque.cli import main; main()"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--identities", type=Path, default=IDENTITIES)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--prompt", default="full glam")
    ap.add_argument("--strength", default="natural")
    ap.add_argument("--max-strength", default="max")
    ap.add_argument("--sources-per-person", type=int, default=1, help="protect each person's first N photos")
    ap.add_argument("extra", nargs="*", help="arguments for `masque protect` (after --)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, held = [], 0
    for name, source, pair in sources_with_next(args.identities, args.sources_per_person):
        target = args.out / f"{name}.{source.stem}.protected{source.suffix}"
        argv = [*MASQUE, "protect", str(source), "--pair", str(pair), "-p", args.prompt, "--engine", "parametric",
                "--until-protected", "--strength", args.strength, "--max-strength", args.max_strength,
                "--out", str(target), "--overwrite", "--quiet", *args.extra]
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"{name}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        side = json.loads(Path(f"{target}.json").read_text())
        t = side["timings"]
        for face in side["faces"]:
            steps = " -> ".join(f"{s['strength']}: {s['status']}" for s in face["escalation"])
            held += face["status"] == "protected"
            rows.append(face["status"])
            print(f"{name} {source.name} face {face['index']}: {steps} | reached {face['strength_reached']}"
                  f"{' (cap)' if face['cap_reached'] else ''} | final {face['status']}, still matched by "
                  f"{face['verdict']['still_matched_by']} | {wall:.1f} s wall, engine {t.get('engine', 0):.1f} s, "
                  f"judge {t.get('judge', 0):.1f} s, load {t.get('load', 0):.1f} s")
        settings = side["settings"]
    if rows:
        print(f"protected within the cap {args.max_strength}: {held}/{len(rows)} faces; surrogates "
              f"{settings['surrogates']}, held out {settings['until_protected']['held_out']}, plus dlib-bin")


if __name__ == "__main__":
    main()
