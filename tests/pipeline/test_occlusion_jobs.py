"""The preparation stage leaves covered regions bare (issue 21, item 3): zero masks, occluder pixels cut from the union,
the job says which regions and why; a face whose every region is covered is not sent to the engine."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch

from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import ParametricConfig
from masque.faces.occlusion import OcclusionConfig
from masque.io import read_image
from masque.pipeline import Preparer
from masque.pipeline.run import protect_job
from masque.trace import CostTrace, StageTimes

GROUP = Path(__file__).parents[1] / "data" / "groups" / "obama_and_biden.jpg"


@cache
def _group():
    rgb = read_image(GROUP).rgb
    return rgb, Preparer(_engine(), "full glam").detect(rgb)


@cache
def _engine():
    return create_engine("parametric", embedders=[create_embedder("tiny-random")],
                         config=ParametricConfig(steps=1, crop_size=128))


def _child_job(prompt: str, **kw):
    rgb, faces = _group()
    prep = Preparer(_engine(), prompt, **kw)
    (job,) = prep.photo_jobs(rgb, faces[2:3], [], None, seed=0, times=StageTimes(), trace=CostTrace())
    return prep, job


def test_child_job_has_bare_eyes_and_brows_and_the_fringe_cut_from_the_union():
    prep, job = _child_job("full glam")
    assert job.bare_regions == ("eyes", "brows")
    assert set(job.bare_reasons()) == {"eyes", "brows"}
    for region in job.bare_regions:
        assert float(job.region_masks[region].max()) == 0.0
    cut = torch.from_numpy(job.occlusion.cut)
    assert cut.any() and float(job.mask[0, 0][cut].max()) == 0.0
    assert float(job.region_masks["lips"].max()) > 0.5  # her lips are visible: painted
    # without occlusion checks the same face gets makeup on the fringe
    _, blind = _child_job("full glam", occlusion=None)
    assert blind.bare_regions == () and float(blind.mask[0, 0][cut].max()) > 0.5


def test_a_face_whose_every_region_is_covered_is_returned_unchanged_without_running_the_engine():
    _, job = _child_job("black eyeliner, brown brow pencil", region="eyes,brows")
    assert job.bare_regions == ("eyes", "brows") and float(job.mask.max()) == 0.0

    class Refuses:
        name = "refuses"

        def protect(self, job, progress=None):
            raise AssertionError("the engine must not run on a face with nothing to paint")

    res = protect_job(Refuses(), job)
    assert torch.equal(res.image, job.crop) and "eyes: covered by hair" in res.details["skipped"]


def test_unoccluded_faces_get_the_same_masks_as_without_the_check():
    rgb, faces = _group()
    for face in faces[:2]:
        jobs = [Preparer(_engine(), "full glam", occlusion=occ).photo_jobs(
            rgb, [face], [], None, seed=0, times=StageTimes(), trace=CostTrace())[0]
            for occ in (OcclusionConfig(), None)]
        assert jobs[0].bare_regions == () and np.array_equal(jobs[0].mask.numpy(), jobs[1].mask.numpy())
