"""The protection service behind ``POST /api/protect``: the form's fields → one `masque.api.Protector` run in a
private folder that is removed before the answer is returned.

Engine settings (steps, device, the page's strength) reach the engine through its options mapper
(`masque.engines.EngineOptions` → `engine_kwargs`), exactly as `masque protect` passes its flags.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..engines.catalog import KNOWN_ENGINES, auto_order, engine_entry
from ..errors import InputError, MasqueError, WeightsError
from .answer import BROWSER_FORMATS, OTHER_EXTENSIONS, answer
from .choices import DETECTORS, ENGINES, default_strength, page_choices
from .form import Form, UserError, file_field, save, scrub, text_field
from .messages import web_message, web_note
from .progress import JOB_ID, ProgressBoard

MAX_PROMPT_CHARS = 200


@dataclass(frozen=True)
class ServeConfig:
    """What `masque serve` fixes for every request (the page chooses photo, prompt, engine and strength)."""

    engine: str = "auto"  # engine selected when the page opens
    model: str | None = None  # diffusion weights (hub id or folder); None: $MASQUE_SD_MODEL / the default
    surrogates: tuple[str, ...] | None = None  # FR models to optimise against; None: every present one
    steps: int | None = None  # engine steps; None: the engine's default
    device: str = "cpu"
    max_upload_bytes: int = 25 * 2**20  # the whole request (photo + pair)
    max_pixels: int = 60_000_000  # per photo; far above any phone camera, far below a decompression bomb
    tmp_root: Path | None = None  # where per-request folders are made; None: the system's temporary folder
    quiet: bool = False  # no request log on stderr

    def validate(self) -> ServeConfig:
        if self.engine not in ENGINES:
            raise InputError(field="engine", value=self.engine, rule=f"must be one of {ENGINES}; got {self.engine!r}")
        if self.max_upload_bytes <= 0:
            raise InputError(field="max_upload_mb", value=self.max_upload_bytes / 2**20,
                             rule=f"must be positive; got {self.max_upload_bytes / 2**20:g}")
        return self


class ProtectService:
    """Loads one `Protector` per engine on first use and reuses it (`Protector.with_prompt`) for every prompt; a
    request with other engine options (another strength) rebuilds that engine's Protector (about a second).

    Runs are serialised by a lock: the engine and FR models are shared, and the CPU has no spare cores anyway.
    """

    def __init__(self, config: ServeConfig, progress: ProgressBoard | None = None):
        self.config = config
        self.progress = progress or ProgressBoard()
        self._lock = threading.Lock()
        self._protectors: dict[str, tuple[object, object]] = {}  # engine -> ((EngineOptions, escalation), Protector)
        self._unavailable: dict[str, str] = {}

    def status(self) -> dict:
        engines = {}
        for name in ENGINES:
            reason = self._unavailable.get(name)
            entry = engine_entry(name)
            if reason is None and entry is not None and entry.weights and name not in self._protectors:
                reason = diffusion_weights_missing(self.config.model)
            engines[name] = {"available": reason is None, "message": reason or "",
                             "level_presets": entry is not None and entry.level_presets}
        engines["auto"]["runs"] = next(n for n in auto_order() if engines[n]["available"])
        return {"engines": engines, "default_engine": self.config.engine, **page_choices(),
                "max_upload_bytes": self.config.max_upload_bytes}

    def engine_options(self, engine: str, strength: str | None = None):
        """The page's and the server's settings as the engines' one options type (mapped by `engine_kwargs`)."""
        from ..engines import EngineOptions

        cfg = self.config
        return EngineOptions(steps=cfg.steps, model=cfg.model if KNOWN_ENGINES[engine].accepts("model") else None,
                             device=cfg.device, strength=strength)

    def _protector(self, engine: str, prompt: str, detector: str = "auto", job: str | None = None,
                   strength: str | None = None, cap: str | None = None):
        from .. import api
        from ..engines import engine_kwargs
        from ..engines.auto import choose_engine
        from ..run_config import ProtectConfig

        choice = choose_engine(engine, self.config.model)
        engine = choice.name
        if engine in self._unavailable:
            raise UserError(self._unavailable[engine])
        escalation = {"until_protected": True, "max_strength": cap} if cap else {}
        options = self.engine_options(engine, strength)
        engine_kwargs(engine, options)  # a strength the engine does not take: InputError, worded for the page
        key = (options, tuple(sorted(escalation.items())))
        loaded = self._protectors.get(engine)
        if loaded is None or loaded[0] != key:
            self.progress.set(job, "Loading the models (first photo only, a few seconds)" if loaded is None else
                              "Loading the models for the new strength (a second or two)")
            self._protectors.pop(engine, None)  # one Protector per engine in memory
            cfg = self.config
            config = ProtectConfig(prompt, engine=engine, options=options, surrogates=cfg.surrogates or None,
                                   **escalation)
            try:
                protector = api.Protector.from_config(config, device=cfg.device, overwrite=True, engine_choice=choice)
            except WeightsError as exc:
                self._unavailable[engine] = (f"The {engine} method cannot start on this computer (its model files did "
                                             "not load); choose the parametric method.")
                raise UserError(self._unavailable[engine]) from exc
            self._protectors[engine] = (key, protector)
        return self._protectors[engine][1].with_prompt(prompt, detector=detector)

    def protect(self, form: Form) -> dict:
        """Run one protection from the parsed form; everything written lives in a folder removed before returning."""
        job = text_field(form, "job").strip() or None
        if job is not None and not JOB_ID.fullmatch(job):
            raise UserError("The page sent a malformed request; reload the page and try again.")
        try:
            return self._protect(form, job)
        finally:
            self.progress.forget(job)

    def _protect(self, form: Form, job: str | None) -> dict:
        # 1. fields
        photo_name, photo = file_field(form, "photo", required=True)
        pair_name, pair = file_field(form, "pair", required=False)
        prompt = text_field(form, "prompt").strip()
        engine = text_field(form, "engine").strip() or self.config.engine
        detector = text_field(form, "detector").strip() or "auto"
        strength = text_field(form, "strength").strip() or None  # None: the engine's default
        until_protected = text_field(form, "until_protected").strip() == "1"
        cap = escalation_cap(strength, text_field(form, "max_strength").strip() or None) if until_protected else None
        if detector not in DETECTORS:
            raise UserError(f"Unknown face finder {detector!r}; choose {' or '.join(DETECTORS.values())}.")
        if not prompt:
            raise UserError("Please describe the makeup, for example 'full glam'.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserError(f"The makeup description is too long ({len(prompt)} characters; at most "
                            f"{MAX_PROMPT_CHARS}).")
        if engine not in ENGINES:
            raise UserError(f"Unknown engine {engine!r}; choose one of {', '.join(ENGINES)}.")

        # 2. a private folder per request (mode 0700), gone when this block ends
        with tempfile.TemporaryDirectory(prefix="masque-web-", dir=self.config.tmp_root) as tmp:
            root = Path(tmp)
            try:
                return self._run(root, engine, prompt, (photo_name, photo), (pair_name, pair) if pair else None,
                                 detector, job, strength, cap)
            except MasqueError as exc:
                raise UserError(scrub(web_message(exc), root)) from exc

    def _run(self, root: Path, engine: str, prompt: str, photo: tuple[str, bytes],
             pair: tuple[str, bytes] | None, detector: str = "auto", job: str | None = None,
             strength: str | None = None, cap: str | None = None) -> dict:
        import warnings

        from ..errors import UserNote
        from ..io import read_image

        photo_path = save(root / "photo", *photo)
        pair_path = save(root / "pair", *pair) if pair else None
        image = read_image(photo_path, max_pixels=self.config.max_pixels)  # not an image / too big: fail before work
        if pair_path is not None:
            read_image(pair_path, max_pixels=self.config.max_pixels)
        ext = BROWSER_FORMATS.get(image.format, (None, OTHER_EXTENSIONS.get(image.format, photo_path.suffix)))[1]
        out_dir = root / "out"
        out_dir.mkdir()
        out_path = out_dir / f"{photo_path.stem}.protected{ext or '.png'}"
        if not self._lock.acquire(blocking=False):  # only then is another photo running
            self.progress.set(job, "Waiting for the photo before this one to finish")
            self._lock.acquire()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserNote)
                protector = self._protector(engine, prompt, detector, job, strength, cap)
                self.progress.set(job, "Finding faces")
                level = getattr(protector.engine.config, "strength", None)  # the diffusion engine's is no name
                callback = self.progress.engine_callback(job, protector.until,
                                                         level if isinstance(level, str) else None)
                report = protector.protect_photo(photo_path, out=out_path, pair=[pair_path] if pair_path else (),
                                                 progress=callback)
        finally:
            self._lock.release()
        data = out_path.read_bytes()
        notes = [web_note(w.message) for w in caught if issubclass(w.category, UserNote)]
        diffusion_available = self.status()["engines"]["diffusion"]["available"]
        return answer(report, data, image.format, photo_path.name, pair_path.name if pair_path else None, notes,
                      diffusion_available=diffusion_available)


def escalation_cap(start: str | None, cap: str | None) -> str:
    """'Protect until it holds' (issues 19, 29): each face not yet protected is redone one strength stronger, from the
    strength control (``start``; None: the engines' default) up to the page's own "up to" control (``cap``; None: the
    strongest level), so the page's defaults can escalate. A cap below the start is the user's mistake."""
    from ..makeup.prompt import STRENGTHS
    from ..pipeline.escalate import DEFAULT_CAP

    cap = cap or DEFAULT_CAP
    start = start or default_strength()
    if cap not in STRENGTHS:
        raise UserError(f"Unknown strength {cap!r} for 'up to'; choose one of {', '.join(STRENGTHS)}.")
    if start in STRENGTHS and STRENGTHS.index(cap) < STRENGTHS.index(start):
        raise UserError(f"'Up to' ({cap}) is below the starting strength ({start}); raise it or start lower.")
    return cap


def diffusion_weights_missing(model: str | None) -> str | None:
    """Why the diffusion engine cannot load here (None when its weights look present) — a file check, no loading,
    phrased for the page's user (the person who started the server is the one who can add weights)."""
    from ..engines.diffusion.backbone import local_weights_problem

    problem = local_weights_problem(model)
    if problem is None:
        return None
    return (f"The diffusion method needs Stable Diffusion weights on this computer ({problem}); the parametric method "
            "works without them.")
