"""Protect until it holds (issue 19): each face climbs the strength ladder only until the judges stop matching it,
never past the cap, and a face that holds is never protected again. The engine is a stand-in whose protection depends
on the strength (injected, not patched); the judge is the real one (dlib's port) reading the written pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from PIL import Image

from masque.embedders import create_embedder
from masque.engines.base import ProtectResult
from masque.errors import InputError
from masque.io import read_image, write_image
from masque.makeup.prompt import STRENGTHS, resolve_plan
from masque.pipeline import NOT_PROTECTED, PROTECTED, FacePipeline, Judge, Preparer
from masque.pipeline.escalate import Escalation, held_out_model, ladder


@dataclass(frozen=True)
class _Config:
    strength: str


class StrengthEngine:
    """Protects face ``i`` only from level ``holds_from[i]`` on: there its crop becomes noise (no recogniser matches
    it); below, the crop comes back unchanged (every recogniser still matches). Records every call."""

    name = "strength-stub"
    crop_size = 256

    def __init__(self, embedders, level: str, holds_from: dict[int, str], calls: list):
        self.embedders, self.config, self.holds_from, self.calls = embedders, _Config(level), holds_from, calls

    @property
    def strength_level(self) -> str:
        return self.config.strength

    def with_strength(self, level: str) -> StrengthEngine:
        return StrengthEngine(self.embedders, level, self.holds_from, self.calls)

    def plan(self, prompt, region=None):
        return resolve_plan(prompt, self.config.strength, region)

    def protect(self, job, progress=None) -> ProtectResult:
        level = self.config.strength
        self.calls.append((job.index, level, job.plan.strength))
        if STRENGTHS.index(level) < STRENGTHS.index(self.holds_from[job.index]):
            return ProtectResult(image=job.crop.clone())
        noise = torch.rand(job.crop.shape, generator=torch.Generator().manual_seed(job.seed))
        return ProtectResult(image=job.crop + job.mask * (noise - job.crop), details={"level": level})


@pytest.fixture(scope="module")
def dlib():
    return create_embedder("dlib")


@pytest.fixture(scope="module")
def group(faces_dir) -> np.ndarray:
    """Biden left, Obama right (the layout of tests/test_api.py's group photo)."""
    obama = Image.open(faces_dir / "obama.jpg").convert("RGB").crop((250, 100, 700, 650))
    biden = Image.open(faces_dir / "biden.jpg").convert("RGB").crop((300, 150, 700, 700)).resize((450, 550))
    photo = Image.new("RGB", (900, 550))
    photo.paste(biden, (0, 0))
    photo.paste(obama, (450, 0))
    return np.asarray(photo)


def _pipeline(dlib, start: str, holds_from: dict[int, str], calls: list) -> FacePipeline:
    engine = StrengthEngine([dlib], start, holds_from, calls)
    return FacePipeline(Preparer(engine, "tan foundation", whole_crop=True),
                        Judge([dlib], surrogates={"dlib"}, dlib_bin=False))


class _Files:
    """``write`` into a PNG and read it back (what the pipeline's judge reads), counting writes and looks."""

    def __init__(self, folder):
        self.path, self.writes, self.looks = folder / "out.png", 0, 0

    def write(self, rgb):
        self.writes += 1
        write_image(self.path, rgb)
        return read_image(self.path).rgb

    def look(self, rgb):
        self.looks += 1
        return rgb.copy()  # PNG is lossless: what the writer would give back


def test_stops_at_the_first_level_that_holds_and_leaves_the_other_face_alone(dlib, group, tmp_path):
    calls, files = [], _Files(tmp_path)
    pipe = _pipeline(dlib, "subtle", {0: "bold", 1: "subtle"}, calls)
    run = pipe.run(group, until=ladder("subtle"), write=files.write, look=files.look)
    first, second = run.faces
    assert first.escalation.steps == [("subtle", NOT_PROTECTED), ("natural", NOT_PROTECTED), ("bold", PROTECTED)]
    assert first.escalation.strength_reached == "bold" and not first.escalation.cap_reached
    assert second.escalation.steps == [("subtle", PROTECTED)]
    # face 1 ran once; face 0 once per level up to bold and never at max; each rerun used its level's plan
    assert calls == [(0, "subtle", "subtle"), (1, "subtle", "subtle"), (0, "natural", "natural"), (0, "bold", "bold")]
    assert first.result.details == {"level": "bold"} and first.job.plan.strength == "bold"
    # the final verdict is the written file's: written twice (start, after escalating), each step judged on a look
    assert (files.writes, files.looks) == (2, 2)
    assert [o.verdict.status for o in run.faces] == [PROTECTED, PROTECTED]
    np.testing.assert_array_equal(run.rgb, read_image(files.path).rgb)


def test_never_exceeds_the_cap_and_says_so(dlib, group, tmp_path):
    calls, files = [], _Files(tmp_path)
    pipe = _pipeline(dlib, "subtle", {0: "max", 1: "max"}, calls)
    run = pipe.run(group, until=ladder("subtle", "natural"), write=files.write, look=files.look)
    for out in run.faces:
        assert [s for s, _ in out.escalation.steps] == ["subtle", "natural"]
        assert out.escalation.cap_reached and out.verdict.status == NOT_PROTECTED
    assert {level for _, level, _ in calls} == {"subtle", "natural"}


def test_a_face_that_holds_at_the_start_costs_nothing_more(dlib, group, tmp_path):
    calls, files = [], _Files(tmp_path)
    run = _pipeline(dlib, "natural", {0: "natural", 1: "subtle"}, calls).run(
        group, until=ladder("natural"), write=files.write, look=files.look)
    assert [o.escalation.steps for o in run.faces] == [[("natural", PROTECTED)], [("natural", PROTECTED)]]
    assert len(calls) == 2 and (files.writes, files.looks) == (1, 0)


def test_escalation_starts_at_the_engines_own_level(dlib, group):
    pipe = _pipeline(dlib, "natural", {0: "max", 1: "max"}, [])
    with pytest.raises(InputError, match="must start at the engine's strength 'natural'"):
        pipe.run(group, until=ladder("subtle"))


def test_ladder_and_held_out_rule():
    assert ladder("natural") == ("natural", "bold", "max")  # default cap: the strongest level
    assert ladder("bold", "bold") == ("bold",)
    with pytest.raises(InputError, match="`--max-strength` must be at least the starting `--strength` 'bold'"):
        ladder("bold", "subtle")
    with pytest.raises(InputError, match="`--strength` must be one of"):
        ladder("1.5")
    assert held_out_model(["dlib", "faceres", "sface"]).model == "sface"
    assert held_out_model(["dlib"]) is None  # the only model must be the surrogate
    # explicit, not positional: a model registered after sface changes nothing
    assert held_out_model(["dlib", "sface", "zz-new-model"]).model == "sface"
    assert held_out_model(["dlib", "mobileface-v3", "zz-new-model"]).model == "mobileface-v3"
    fallback = held_out_model(["dlib", "faceres"])  # neither default judge present: the last present, said so
    assert fallback.model == "faceres" and fallback.reason.startswith("fallback: none of the default")
    esc = Escalation("max", [("natural", NOT_PROTECTED), ("bold", "unverified")])
    assert esc.holds and not esc.cap_reached  # unverified: a stronger level cannot make a reference prove anything
    assert esc.to_dict() == {"escalation": [{"strength": "natural", "status": NOT_PROTECTED},
                                            {"strength": "bold", "status": "unverified"}],
                             "strength_reached": "bold", "cap_reached": False}


def test_the_diffusion_engine_climbs_the_same_level_names(tiny_sd_dir, dlib):
    from masque.engines import create_engine
    from masque.engines.diffusion.config import GUIDANCE_LEVELS

    engine = create_engine("diffusion", model=str(tiny_sd_dir), embedders=[dlib])
    assert engine.strength_level == "natural"  # the paper's guidance strength 1.0
    bold = engine.with_strength("bold")
    assert abs(bold.config.guidance.strength - GUIDANCE_LEVELS["bold"]) < 1e-12 and bold.strength_level == "bold"
    assert bold.pipeline.backbone.unet is engine.pipeline.backbone.unet and bold.embedders == engine.embedders
    with pytest.raises(InputError, match="`strength` must be one of"):
        engine.with_strength("1.5")
