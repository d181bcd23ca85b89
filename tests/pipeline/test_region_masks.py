"""Per-region masks are drawn only when an engine reads them (issue 15), and are then each region's own mask."""

from __future__ import annotations

import torch

from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import ParametricConfig
from masque.io import read_image
from masque.pipeline import Preparer
from masque.pipeline.prepare import RegionMasks, mask_tensor
from masque.trace import CostTrace, StageTimes


def test_region_masks_are_drawn_on_first_access_and_match_the_masker(faces_dir):
    engine = create_engine("parametric", embedders=[create_embedder("tiny-random")],
                           config=ParametricConfig(steps=1, crop_size=128))
    prep = Preparer(engine, "full glam")
    rgb = read_image(faces_dir / "obama.jpg").rgb
    faces = prep.detect(rgb)
    (job,) = prep.photo_jobs(rgb, faces[:1], [], None, seed=0, times=StageTimes(), trace=CostTrace())
    masks = job.region_masks
    assert isinstance(masks, RegionMasks) and list(masks) == list(prep.regions) and len(prep.regions) > 1
    assert not masks._drawn  # the parametric engine paints the union: nothing drawn yet
    for region in prep.regions:
        own = mask_tensor(prep.masker(job.aligned, [region]))
        assert torch.equal(masks[region], own)
    assert job.regions == tuple(prep.regions)
