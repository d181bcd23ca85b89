"""The adversarial objective: named terms (`terms`), a balancing strategy (`balance`), EOT (`eot`) and the
leave-one-out choice of surrogates (`surrogates`), bound to one image by `Objective`."""

from __future__ import annotations

from .balance import BALANCES, register_balance
from .eot import EOT, EOTConfig, diff_jpeg, gaussian_blur, jitter_alignment, random_resize
from .objective import AnchorEmbeddings, Objective, ObjectiveConfig, encode_anchors, evaluate, pairwise_loss
from .surrogates import select_surrogates
from .terms import (
    TERMS,
    Dodge,
    ModelView,
    ObjectiveTerm,
    PairwiseLoss,
    Repel,
    Spread,
    calibrate,
    margin_threshold,
    register_term,
)

__all__ = ["BALANCES", "EOT", "TERMS", "AnchorEmbeddings", "Dodge", "EOTConfig", "ModelView", "Objective",
           "ObjectiveConfig", "ObjectiveTerm", "PairwiseLoss", "Repel", "Spread", "calibrate", "diff_jpeg",
           "encode_anchors", "evaluate", "gaussian_blur", "jitter_alignment", "margin_threshold", "pairwise_loss",
           "random_resize", "register_balance", "register_term", "select_surrogates"]
