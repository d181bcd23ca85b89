"""`ProtectConfig`: the settings of one protection run as a front end states them, in one frozen, serialisable value.

Why: a run must be reproducible from what it wrote. The CLI and the web page describe a run with a `ProtectConfig`;
`masque.api.Protector.from_config` builds the run from it and stores it in the sidecar (``settings.config``), and
`Protector.from_sidecar` loads it back, so the same config, seed and photo give the same protected photo. What is
not a setting of the run but of the machine (the device, whether existing outputs may be replaced) is passed beside
it, never stored in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .engines.base import EngineOptions
from .errors import InputError
from .io import DEFAULT_MAX_PIXELS
from .pipeline.escalate import DEFAULT_HELD_OUT

CONFIG_VERSION = 1  # bumped when a field changes meaning; `from_dict` refuses other versions in one line


def _names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class ProtectConfig:
    """The front-end settings of a run (see `masque.api.Protector` for what each does).

    ``options``: the engine knobs (strength, steps, EOT, SD weights, ...), mapped onto the engine's own config by its
    registered options mapper (`masque.engines.engine_kwargs`), exactly as the CLI's flags are; its ``device`` is
    left out (a machine setting). ``held_out``: the preference order of the judge `--until-protected` holds out when
    no surrogates are named (`masque.pipeline.escalate.held_out_model`).
    """

    prompt: str
    engine: str = "auto"
    options: EngineOptions = field(default_factory=EngineOptions)
    surrogates: tuple[str, ...] | None = None
    region: tuple[str, ...] | None = None
    faces: str | int = "all"
    detector: str = "auto"  # HOG, confirmed by CNN on group photos (the CLI, API and web default)
    face_scale: float = 0.8
    parser: str | None = None
    seed: int = 0
    judges: tuple[str, ...] | None = None
    dlib_bin: bool = True
    keep_metadata: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    force_pair: bool = False
    until_protected: bool = False
    max_strength: str | None = None
    held_out: tuple[str, ...] = DEFAULT_HELD_OUT

    def __post_init__(self):
        for name in ("surrogates", "region", "judges", "held_out"):  # lists from JSON or a caller: tuples, hashable
            object.__setattr__(self, name, _names(getattr(self, name)))
        if self.options.device is not None:
            object.__setattr__(self, "options", replace(self.options, device=None))
        if self.parser is not None:
            object.__setattr__(self, "parser", str(self.parser))

    def protector_kwargs(self) -> dict[str, Any]:
        """The `Protector` keyword arguments these settings stand for (the engine knobs excepted: they are mapped
        for the chosen engine by `Protector.from_config`)."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("prompt", "options")}
        for name in ("surrogates", "region", "judges"):
            kwargs[name] = None if kwargs[name] is None else list(kwargs[name])
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what the sidecar stores); `from_dict` reads it back to an equal config."""
        return {"version": CONFIG_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProtectConfig:
        """The config `to_dict` wrote; a one-line `InputError` for another version or an unknown setting."""
        data = dict(data)
        version = data.pop("version", None)
        if version != CONFIG_VERSION:
            raise InputError(field="config", value=version, rule=f"version must be {CONFIG_VERSION}, got "
                             f"{version!r}", hint="protect the photo again with this version of MASQUE")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(field="config", value=unknown, rule=f"has unknown settings {unknown}",
                             hint="it was written by another version of MASQUE")
        options = data.pop("options", None) or {}
        option_names = {f.name for f in fields(EngineOptions)}
        if set(options) - option_names:
            raise InputError(field="config", value=sorted(set(options) - option_names),
                             rule=f"has unknown engine options {sorted(set(options) - option_names)}")
        return cls(**data, options=EngineOptions(**options))
