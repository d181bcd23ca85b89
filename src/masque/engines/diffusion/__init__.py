"""The `diffusion` engine (MASQUE): Stable Diffusion + null-text inversion + prompt-to-prompt with mask fusion +
pairwise adversarial guidance. Importing this package registers the engine."""

from .backbone import (
    DEFAULT_MODEL,
    MODEL_ENV,
    Backbone,
    MemoryConfig,
    build_random_backbone,
    create_tiny_sd,
    load_backbone,
    place_backbone,
)
from .config import DiffusionConfig, EditConfig, GuidanceConfig, InversionConfig, SchedulerConfig
from .engine import DiffusionEngine, create_diffusion_engine
from .pipeline import DEFAULT_SOURCE_PROMPT, MasquePipeline

__all__ = [
    "DEFAULT_MODEL", "DEFAULT_SOURCE_PROMPT", "MODEL_ENV", "Backbone", "DiffusionConfig", "DiffusionEngine",
    "EditConfig", "GuidanceConfig", "InversionConfig", "MasquePipeline", "MemoryConfig", "SchedulerConfig",
    "build_random_backbone", "create_diffusion_engine", "create_tiny_sd", "load_backbone", "place_backbone",
]
