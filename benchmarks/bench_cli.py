"""The whole `masque protect` command as a person waits for it: a fresh process from start to exit.

    python benchmarks/bench_cli.py                                  # obama.jpg, fast engine, dlib only, 3 runs
    python benchmarks/bench_cli.py --photos a.jpg b.jpg --runs 5 -- --surrogates dlib,irse50
    python benchmarks/bench_cli.py --batch                          # all photos in one command (loading amortised)
    python benchmarks/bench_cli.py --home fresh                     # a fresh install: only dlib's model present

For each photo (default: the shared test photos' ``obama.jpg``) the command runs ``--runs`` times; printed: median,
min and max wall seconds, the process's peak RSS (from ``wait4``), and the per-stage seconds read from the sidecar's
``timings`` (load, read, detect, align_mask, anchors, engine, paste, write, judge; medians over runs) with what is left
(imports, argument parsing, exit) as ``other``. Then ``masque --help``'s wall time (median of ``--help-runs``) and
``python -c "import torch"``'s, so the budget of issue 15 reads directly: wall - import torch - engine = what is
neither importing torch nor optimising. ``--warmup`` untimed runs come first (they fill the converted-weights cache
and the OS file cache). ``--home DIR`` runs with ``MASQUE_HOME=DIR``; ``fresh``: an empty one, i.e. a new install
whose only FR model is dlib's (shipped with ``face_recognition_models``), so no held-out model judges.
Arguments after ``--`` are passed to `masque protect` (default: ``--engine parametric --surrogates dlib``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = [ROOT / "tests" / "data" / "faces" / "obama.jpg"]
DEFAULT_ARGS = ["--engine", "parametric", "--surrogates", "dlib"]
MASQUE = [sys.executable, "-c", "from masque.cli import main; main()"]  # the console script's entry point
CPU_SECONDS: list[float] = []  # every child's user + system CPU seconds, in run order


def run_process(argv: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one child process; its CPU seconds (user + system) go to
    `CPU_SECONDS` (on a shared machine CPU / cores is a floor of the wall time on idle cores)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KiB on Linux


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} {min(values):7.2f} {max(values):7.2f}"


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else DEFAULT_ARGS
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, nargs="+", default=DEFAULT_PHOTOS)
    parser.add_argument("--prompt", default="red lipstick")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--help-runs", type=int, default=5)
    parser.add_argument("--batch", action="store_true", help="one command for all photos (per-photo time printed)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--home", default=None, help="MASQUE_HOME for the runs; 'fresh' = a new empty folder")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="masque-home-") if args.home == "fresh" else args.home
    env = {**os.environ, **({"MASQUE_HOME": home} if home else {})}
    if home:
        print(f"MASQUE_HOME={home}")

    print(f"masque protect ... {' '.join(extra)}   ({args.runs} runs each; seconds: median min max)")
    groups = [args.photos] if args.batch else [[p] for p in args.photos]
    for photos in groups:
        walls, rss, stages, cpus = [], [], [], []
        for run in range(args.warmup + args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / ("out" if len(photos) > 1 else f"out{photos[0].suffix}")
                wall, peak, code = run_process([*MASQUE, "protect", *map(str, photos), "-p", args.prompt, "-q",
                                                "--out", str(out), *extra], env)
                if code != 0:
                    raise SystemExit(f"masque protect exited {code}")
                if run < args.warmup:
                    continue
                walls.append(wall)
                rss.append(peak)
                cpus.append(CPU_SECONDS[-1])
                sides = sorted(Path(tmp).rglob("*.json"))
                timings: dict[str, float] = {}
                for side in sides:
                    for stage, sec in json.loads(side.read_text()).get("timings", {}).items():
                        timings[stage] = timings.get(stage, 0.0) + sec
                stages.append(timings)
        label = photos[0].name if len(photos) == 1 else f"batch of {len(photos)}"
        print(f"{label:<24} wall {summary(walls)}   per photo {statistics.median(walls) / len(photos):6.2f}"
              f"   peak RSS {max(rss):6.0f} MiB   CPU {statistics.median(cpus):6.2f} s "
              f"(load average {os.getloadavg()[0]:.1f})")
        if any(stages):
            med = {k: statistics.median(t.get(k, 0.0) for t in stages) for k in {k for t in stages for k in t}}
            med = dict(sorted(med.items(), key=lambda kv: -kv[1]))
            other = statistics.median(walls) - sum(med.values())
            print("   stages: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()) + f", other {other:.2f}")
            per_photo_engine = med.get("engine", 0.0) / len(photos)
            print(f"   per photo: engine {per_photo_engine:.2f}, everything else "
                  f"{statistics.median(walls) / len(photos) - per_photo_engine:.2f}")
        else:
            print("   (the sidecar has no per-stage `timings`)")
    helps = [run_process([*MASQUE, "--help"], env)[0] for _ in range(args.help_runs)]
    print(f"{'masque --help':<24} wall {summary(helps)}")
    torches = [run_process([sys.executable, "-c", "import torch"])[0] for _ in range(args.help_runs)]
    print(f"{'import torch':<24} wall {summary(torches)}")


if __name__ == "__main__":
    main()
