"""Leave-one-out split of the FR models into the surrogates an engine optimises against and held-out judges."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError


def select_surrogates(available: Sequence[str], surrogates: Sequence[str] | None = None,
                      black_box: str | Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Leave-one-out split of the FR models into (surrogates optimised against, held-out black boxes).

    ``surrogates=None`` takes every available model except the black box(es); the literature protocol optimises on
    three models and tests on the fourth. Without a black box and explicit surrogates, nothing is held out.
    """
    available = list(dict.fromkeys(available))
    held = [black_box] if isinstance(black_box, str) else list(black_box or [])
    unknown = [n for n in [*held, *(surrogates or [])] if n not in available]
    if unknown:
        raise InputError(f"`surrogates`/`black_box` must be among the available models {available}, got {unknown}; "
                         "see `masque models list`.")
    if surrogates is None:
        chosen = [n for n in available if n not in held]
    else:
        chosen = list(dict.fromkeys(surrogates))
        clash = [n for n in chosen if n in held]
        if clash:
            raise InputError(f"`surrogates` must not contain the black-box model(s) {clash}: a held-out model judges "
                             "transfer only.")
    if not chosen:
        raise InputError(f"`surrogates` is empty: available {available}, black box {held}; import another model "
                         "with `masque models import` or drop the black box.")
    held_out = held if held else ([n for n in available if n not in chosen] if surrogates is not None else [])
    return chosen, held_out
