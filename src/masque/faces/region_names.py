"""The face regions' names and the parser of an explicit ``--region`` choice: no pixels, no torch, so the makeup
vocabulary (and `masque protect`'s input checks, which run before any model loads) can use them cheaply. How each
region is drawn is `masque.faces.regions`."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError

REGIONS = ("lips", "eyes", "brows", "cheeks", "skin")


def parse_regions(names: str | Sequence[str]) -> tuple[str, ...]:
    """An explicit region choice (``--region lips,skin`` or a list) as `REGIONS` names in canonical order;
    InputError for an unknown or empty one."""
    items = [s.strip().lower() for s in (names.split(",") if isinstance(names, str) else names)]
    items = [s for s in items if s]
    bad = [s for s in items if s not in REGIONS]
    if bad or not items:
        raise InputError(f"`region` must be one or more of {', '.join(REGIONS)} (comma-separated); got {names!r}.")
    return tuple(r for r in REGIONS if r in items)
