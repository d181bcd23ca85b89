"""`masque evaluate`: protect a dataset with several methods and score protection, quality and robustness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..devices import default_device
from ..engines.catalog import engine_names
from ..errors import InputError
from . import options


def parse_fraction(value: str, name: str) -> float:
    """``"8/255"`` or ``"0.0314"`` -> float (budgets are usually written as fractions of 255)."""
    try:
        if "/" in value:
            num, den = value.split("/", 1)
            return float(num) / float(den)
        return float(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise InputError(f"`{name}` must be a number or a fraction like 8/255, got {value!r}.") from exc


def _command_line(ctx: typer.Context) -> list[str]:
    """The invocation as options (reconstructed from the parsed values, so it is exact however masque was called)."""
    argv = ctx.command_path.split()
    for name, value in ctx.params.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        argv += [flag] if value is True else [flag, str(value)]
    return argv


def evaluate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", "--result-dir", "--result_dir",
                                      help="Output folder (results.json, report.md, grid.png).")],
    dataset: Annotated[Path | None, typer.Option(help="Folder with one sub-folder of photos per identity.")] = None,
    ref_map: Annotated[Path | None, typer.Option(
        "--ref-map", "--ref_map_json", help="MASQUE identity JSON: identity -> {source, reference} image names.")
    ] = None,
    images_dir: Annotated[Path | None, typer.Option(
        "--images-dir", "--images_dir", help="Folder of the --ref-map source images.")] = None,
    ref_base_dir: Annotated[Path | None, typer.Option(
        "--ref-base-dir", "--ref_base_dir", help="Folder of the --ref-map reference images (default: "
                                                 "--images-dir).")] = None,
    img_ext: Annotated[str | None, typer.Option(
        "--img-ext", "--img_ext", help="Extension added to --ref-map names that have none, e.g. .jpg.")] = None,
    pairs: Annotated[Path | None, typer.Option(help="Text file: `SOURCE REFERENCE [IDENTITY]` per line.")] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated methods: clean, the engines (" + ", ".join(
        engine_names()) + "; `masque` = diffusion), and the baselines pgd, masked-pgd.")] = "clean,pgd",
    models: Annotated[str | None, typer.Option(
        help="Comma-separated FR models (default: every registered model whose weights are present).")] = None,
    model: options.Model = None,
    steps: Annotated[int | None, typer.Option(help="DDIM steps of the `masque` method (default 50).")] = None,
    parametric_steps: Annotated[int | None, typer.Option(
        help="Maximum optimisation steps of the `parametric` method (default: the engine's).")] = None,
    prompt: Annotated[str, typer.Option(help="Makeup prompt for masque/parametric; its region masks masked-pgd.")]
    = "red lipstick",
    regions: Annotated[str | None, typer.Option(help="Override the prompt's regions, e.g. lips,eyes.")] = None,
    epsilon: Annotated[str, typer.Option(help="PGD L-infinity budget (pixel range [0, 1]).")] = "8/255",
    pgd_steps: Annotated[int, typer.Option(help="PGD iterations.")] = 50,
    pgd_step_size: Annotated[str, typer.Option(help="PGD step size.")] = "1/255",
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N items.")] = None,
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing", "--skip_existing",
        help="Reuse the protected crops the manifest in --out records with the same settings and intact files "
             "(resume an interrupted run); other settings are refused.")] = False,
    eot: Annotated[bool, typer.Option("--eot", help="Optimise `parametric` under random alignment jitter, resize, "
                                                    "blur, colour and JPEG (transfer to unseen recognisers).")] = False,
    seed: Annotated[int, typer.Option(help="Base seed; item i uses seed + i.")] = 0,
    size: Annotated[int, typer.Option(help="Side of the aligned generation crop (pixels).")] = 512,
    device: options.Device = None,
    executor: options.Executor = "local",
    address: options.Address = None,
    workers: options.Workers = None,
) -> None:
    """Protect every dataset item with each method (leave-one-out over the FR models, or white-box when only one is
    available) and write results.json, report.md and grid.png."""
    from ..evaluation.baselines import PGDConfig
    from ..evaluation.datasets import load_dataset
    from ..evaluation.runner import EvalConfig
    from ..evaluation.runner import evaluate as run_evaluation
    from ..evaluation.zoo import parse_models

    pgd = PGDConfig(epsilon=parse_fraction(epsilon, "--epsilon"), steps=pgd_steps,
                    step_size=parse_fraction(pgd_step_size, "--pgd-step-size"))
    data = load_dataset(dataset, ref_map=ref_map, images_dir=images_dir, ref_base_dir=ref_base_dir, pairs=pairs,
                        img_ext=img_ext)
    names = parse_models(models)
    cfg = EvalConfig(
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        models=tuple(names) if names else None, size=size, seed=seed, limit=limit, skip_existing=skip_existing,
        prompt=prompt, regions=tuple(r.strip() for r in regions.split(",")) if regions else None,
        pgd=pgd,
        sd_model=str(model) if model else None, diffusion_steps=steps, parametric_steps=parametric_steps,
        eot=eot, device=default_device(device),
    )
    from ..executors import create_executor

    runner = create_executor(executor, address=address, workers=workers)
    try:
        results = run_evaluation(data, cfg, out, command=_command_line(ctx), log=lambda m: typer.echo(m, err=True),
                                 executor=runner)
    finally:
        runner.close()
    _print_results(results, out)

def _print_results(results: dict, out: Path) -> None:
    """One line per run (verification and rank-1 PSR), the transfer summary, and where the files are."""
    from ..evaluation.report import pct

    for run in results["runs"]:
        key = run["primary_threshold"]
        v, r1 = run["verification"][key]["psr"], run["identification"]["rank1"]["psr"]
        typer.echo(f"{run['method']:>10} -> {run['target']} ({run['protocol']}): verification PSR@{key} {pct(v)}%, "
                   f"rank-1 PSR {pct(r1)}%")
    if results["transfer"]:
        typer.echo("Transfer (leave-one-out): black-box PSR = held-out model, white-box PSR = mean over the rotations "
                   "that optimised against it")
        for row in results["transfer"]:
            sec = row["seconds_per_face"]
            typer.echo(f"{row['method']:>10}  {row['model']:<14} black-box {pct(row['black_box_psr']):>5}%  white-box "
                       f"{pct(row['white_box_psr']):>5}%  @{row['threshold']}  "
                       f"{'' if sec is None else f'{sec:.1f} s/face'}")
    typer.echo(f"Wrote {out / 'results.json'}, {out / 'report.md'}, {out / 'grid.png'}")
