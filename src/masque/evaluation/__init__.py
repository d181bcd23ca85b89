"""Evaluation harness (`masque evaluate`) and offline self-check (`masque check`).

Protection is measured the way the anti-FR literature does (docs/protocol.md): dodging PSR for verification at fixed
false-accept rates, rank-1/rank-5 identification against a gallery, image quality against the original, and
robustness to common transforms; every number is written to results.json and report.md is generated from it.
"""

from .baselines import PGDBaseline, PGDConfig
from .check import CheckReport, check_protection
from .datasets import EvalDataset, EvalItem, load_dataset
from .runner import METHODS, EvalConfig, evaluate

__all__ = [
    "METHODS", "CheckReport", "EvalConfig", "EvalDataset", "EvalItem", "PGDBaseline", "PGDConfig",
    "check_protection", "evaluate", "load_dataset",
]
