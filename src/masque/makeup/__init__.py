"""Makeup vocabulary below the engines: colour words (`colors`) and prompt -> products + shades (`prompt`)."""

from .colors import NAMED_COLORS, MakeupColor, find_color, parse_color
from .prompt import PRODUCTS, STRENGTHS, MakeupPlan, Shade, resolve_plan

__all__ = ["NAMED_COLORS", "PRODUCTS", "STRENGTHS", "MakeupColor", "MakeupPlan", "Shade", "find_color", "parse_color",
           "resolve_plan"]
