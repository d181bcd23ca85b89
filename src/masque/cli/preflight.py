"""Read and validate every input of `masque protect` before any model loads (issue 21, item 2).

Loading torch, the engine and the FR models takes seconds; a photo that is empty, truncated or not an image, an
unreadable pair or mask, or a prompt with no makeup word in it must fail in about the time `masque --help` takes, in
one line, before the "Engine: …" line. So this module imports only what reading files and words needs (Pillow, numpy,
the makeup vocabulary) — never torch — and `masque.cli.protect` calls it before choosing the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError


def read_checked(path: Path, flag: str, max_pixels: int):
    """Decode ``path`` fully (a truncated JPEG fails only on its last bytes) and phrase a failure for ``flag``."""
    from ..io import read_image

    try:
        return read_image(path, max_pixels=max_pixels)
    except InputError as exc:
        message = str(exc)
        if message.startswith("`image`"):
            message = f"`{flag}`" + message[len("`image`"):]
        raise InputError(message) from exc


def check_prompt(prompt: str, *, region: str | None, allow_unknown_words: bool = False):
    """An empty prompt, one in which the makeup vocabulary (`masque.makeup.vocabulary`, the one every engine reads)
    understands no word, or an unknown ``--region`` fails here; so does a prompt most of whose words are not
    understood (`masque.makeup.prompt.mostly_unknown`) unless ``allow_unknown_words``. Returns the plan (its
    ``notes`` name the words that will be ignored, said before the wait; its products say what to expect). What
    only one engine refuses (the parametric engine cannot draw freckles) is refused by that engine's
    `check_prompt`, also before any model loads."""
    from ..makeup.prompt import mostly_unknown, resolve_plan

    plan = resolve_plan(prompt, None, region)
    if plan.ignored and mostly_unknown(plan) and not allow_unknown_words:
        understood = [*plan.looks, *plan.products, *plan.effects]
        raise InputError(f"`prompt` {prompt!r}: most of its words are not understood ({', '.join(plan.ignored)}); "
                         f"it would run as {', '.join(understood) or 'the region alone'}. Reword it (`masque "
                         "vocabulary` lists the words) or add `--allow-unknown-words` to run it anyway.")
    return plan


def check_inputs(photos: Sequence[Path], *, pairs: Sequence[Path], mask: Path | None, prompt: str,
                 region: str | None, max_pixels: int, allow_unknown_words: bool = False):
    """Every input the run reads, decoded once here: ``photos`` (a batch passes none: a bad photo there fails alone
    and is listed in the summary), ``pairs``, ``mask`` (of the single photo's size), and the prompt. Returns the
    prompt's plan (`check_prompt`): the front end prints its notes before the "Engine:" line."""
    plan = check_prompt(prompt, region=region, allow_unknown_words=allow_unknown_words)
    shape = None
    for photo in photos:
        shape = read_checked(photo, "PHOTO", max_pixels).rgb.shape[:2]
    for pair in pairs:
        read_checked(pair, "--pair", max_pixels)
    if mask is not None:
        read_checked(mask, "--mask", max_pixels)
        if shape is not None and len(photos) == 1:  # its size and content (a small file: read again)
            from ..io import read_mask

            read_mask(mask, shape)
    return plan
