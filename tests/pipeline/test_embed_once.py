"""Each face crop is embedded once per model (issue 15): when the judges cut the same crop as the engine, the
engine's source embeddings are the judges' own, not a second forward pass."""

from __future__ import annotations

import torch

from masque.adversarial import encode_anchors
from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import ParametricConfig
from masque.faces.align import align_face, crop_to_tensor
from masque.io import read_image
from masque.pipeline import FacePipeline, Judge, Preparer

TOL = 1e-6  # the same crop through the same model: float rounding only


class _Spy:
    """Counts the engine's source embeddings handed over by the pipeline."""

    def __init__(self, engine):
        self.engine, self.jobs = engine, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def protect(self, job, progress=None):
        self.jobs.append(job)
        return self.engine.protect(job, progress)


def test_source_embeddings_come_from_the_judges_when_the_crops_match(faces_dir):
    model = create_embedder("dlib")
    engine = _Spy(create_engine("parametric", embedders=[model], config=ParametricConfig(steps=1, crop_size=256)))
    judge = Judge([model], surrogates={"dlib"}, dlib_bin=False, size=256)
    pipe = FacePipeline(Preparer(engine, "red lipstick"), judge, faces="largest")
    rgb = read_image(faces_dir / "obama.jpg").rgb
    run = pipe.run(rgb)
    assert judge.template.cuts_like(pipe.preparer.template)
    (job,) = engine.jobs
    # the only fr:dlib forward passes outside the engine's own steps were the judges' (source not re-embedded)
    assert run.trace.forward.get("judge:dlib", 0) == 2  # the original and the written photo
    crop = crop_to_tensor(align_face(rgb, run.faces[0].job.aligned.face, pipe.preparer.template).crop)
    with torch.no_grad():
        again = encode_anchors([model], [crop])["dlib"]
    torch.testing.assert_close(job.source_embeddings["dlib"], again, rtol=0, atol=TOL)

    other = Judge([model], surrogates={"dlib"}, dlib_bin=False, size=224)  # a different crop: embedded afresh
    assert not other.template.cuts_like(pipe.preparer.template)
    run_other = FacePipeline(Preparer(engine, "red lipstick"), other, faces="largest").run(rgb)
    torch.testing.assert_close(engine.jobs[-1].source_embeddings["dlib"], again, rtol=0, atol=1e-5)
    # same engine steps (1 + the final check), plus exactly the one source embedding the matched run saved
    assert run_other.trace.forward["fr:dlib"] == run.trace.forward["fr:dlib"] + 1
