"""The makeup vocabulary every engine reads: words -> products/effects -> regions (`vocabulary`), colour words
(`colors`) and prompt -> `MakeupPlan` (`prompt`). Sits above `masque.faces` (region names) and below the engines."""

from .colors import NAMED_COLORS, MakeupColor, find_color
from .prompt import MakeupPlan, Shade, resolve_plan
from .vocabulary import PRODUCT_REGIONS, PRODUCTS, STRENGTHS

__all__ = ["NAMED_COLORS", "PRODUCTS", "PRODUCT_REGIONS", "STRENGTHS", "MakeupColor", "MakeupPlan", "Shade",
           "find_color", "resolve_plan"]
