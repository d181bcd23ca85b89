"""The per-face pipeline every front end runs: prepare → engine.protect(job) → paste_back → judge.

`prepare` builds `FaceJob`s once (crops, region masks, the engine's plan, anchor embeddings, seeds); `judge` holds
the judges (surrogates, held-out models, dlib-bin) and `verdict` the one rule they are read by; `run` chains them
for a photo (`FacePipeline`).
"""

from .judge import DLIB_BIN, JUDGE_SIZE, Judge, JudgedFace, Reference
from .prepare import PairPhoto, Preparer, make_job, mask_tensor
from .run import FaceOutcome, FacePipeline, PhotoResult
from .verdict import (
    EXIT_RECOGNISED,
    EXIT_UNVERIFIED,
    NOT_PROTECTED,
    PARTIAL,
    PROTECTED,
    UNVERIFIED,
    FaceVerdict,
    ModelVerdict,
    exit_code,
    overall,
    same_person,
    status_counts,
    status_exit_code,
    summarise,
    weak_protection_hint,
)

__all__ = [
    "DLIB_BIN", "EXIT_RECOGNISED", "EXIT_UNVERIFIED", "JUDGE_SIZE", "NOT_PROTECTED", "PARTIAL", "PROTECTED",
    "UNVERIFIED", "FaceOutcome", "FacePipeline", "FaceVerdict", "Judge", "JudgedFace", "ModelVerdict", "PairPhoto",
    "PhotoResult", "Preparer", "Reference", "exit_code", "make_job", "mask_tensor", "overall", "same_person",
    "status_counts", "status_exit_code", "summarise", "weak_protection_hint",
]
