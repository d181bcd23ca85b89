"""The cosmetic registry: one class per product — its settings' bounds, its shade rule, its render step, its order.

Adding a product is one class here with ``@register_product`` plus its vocabulary rows (`masque.makeup`); the
layer (`makeup.CosmeticLayer`) and the settings (`settings.CosmeticSettings`) read everything from the registry.

Products are pigments laid over skin in linear RGB, each with an opacity and a soft, landmark-anchored shape:

    covering products (foundation, blush, eyeshadow, brows, eyeliner, lipstick):
        x ← lerp(x, c_lin · S(x), α · shape(x))          S = lum(x) / mean skin lum: shading and texture show through
    shading products (contour, highlight, bronzer):    a multiply blend with a skin-derived tone t = lin(c) / lin(skin)
        x ← x · (1 + Σ_k α_k · shape_k(x) · (t − 1))     (all shading products in one factor, `Shading`)
    gloss:                                             x ← x + g · shape(x) · (tint − x)   (screen, pale shade tint)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .colour import deep_shade, lab_of, lin_of_lab
from .geometry import SIDES, side_index

Values = Callable[[str, str], torch.Tensor]  # (product, setting) -> its bounded value this render


@dataclass(frozen=True)
class Bound:
    """One parameter: range [lo, hi] and the tutorial value ``init``; ``scaled``: the strength dial scales it."""

    lo: float
    hi: float
    init: float
    scaled: bool = False


class Product:
    """One cosmetic. Lengths are eye distances (u), angles radians, overdraw crop px at 256²; opacities fractions."""

    name: ClassVar[str]
    order: ClassVar[int]  # render order (lower first)
    bounds: ClassVar[Mapping[str, Bound]]
    # how far the optimiser may move the shade within its family (L* lighter; None: the shade is fixed)
    shade_lightness: ClassVar[float | None] = None
    # the shade when the plan's is skin-matched (ΔL, Δa, Δb from the median skin Lab); a named shade of a product
    # with a tone (but foundation) is taken half-way to the skin
    relative_tone: ClassVar[tuple[float, float, float] | None] = None
    cap_all: ClassVar[bool] = False  # every scaled setting capped at 0.95 (else only opacity and gloss)
    shading_power: ClassVar[float | None] = None  # S(x) ** power: < 1 evens out the area's own shading

    def variants(self) -> dict[str, Mapping[str, Bound]]:
        """Every set of bounds by name (``name`` or ``name:variant``: `settings.PARAMS`)."""
        return {self.name: self.bounds}

    def variant(self, shade) -> str:
        """The name of the bounds worn in ``shade``."""
        return self.name

    def area(self, layer) -> np.ndarray | None:
        """Where the pigment's shading S(x) is measured (None: the skin)."""
        return None

    def prepare(self, layer) -> None:
        """Per-face constants this product's render needs, computed once on the layer."""

    def base_shade(self, layer, shade) -> torch.Tensor:
        if shade.rgb is None:
            return layer.skin_lab + torch.tensor(self.relative_tone or (0.0, 0.0, 0.0))
        if self.relative_tone is not None and self.name != "foundation":  # a named contour/bronzer: half-way
            return 0.5 * (layer.skin_lab + lab_of(shade.rgb))
        return lab_of(shade.rgb)

    def paint(self, layer, x: torch.Tensor, v: Values, reference: bool, scratch: dict) -> torch.Tensor:
        raise NotImplementedError


PRODUCTS: dict[str, Product] = {}


def register_product(cls: type[Product]) -> type[Product]:
    if cls.name in PRODUCTS:
        raise ValueError(f"product {cls.name!r} is registered twice")
    PRODUCTS[cls.name] = cls()
    return cls


def in_order(names) -> list[Product]:
    """The registered products among ``names``, in render order."""
    return sorted((PRODUCTS[n] for n in names), key=lambda p: p.order)


@register_product
class Foundation(Product):
    name, order, shade_lightness, relative_tone = "foundation", 0, 3.0, (0.0, 0.0, 0.0)
    bounds = {"opacity": Bound(0.1, 0.5, 0.3, True)}

    def paint(self, layer, x, v, reference, scratch):
        return layer.cover(x, "foundation", v("foundation", "opacity") * layer.skin_area, reference)


class Shading(Product):
    """A multiply blend with a skin-derived tone; every shading product of the plan goes into one factor, painted
    at the first one's turn (`paint`)."""

    def shape(self, layer, v: Values) -> torch.Tensor:
        """The product's strokes and ellipses at half resolution, weighted by their intensities."""
        raise NotImplementedError

    def paint(self, layer, x, v, reference, scratch):
        if "shading" in scratch:
            return x
        scratch["shading"] = True
        factor = 1.0
        for p in (q for q in in_order(layer.plan.products) if isinstance(q, Shading)):
            shape = layer.geo.upsample(p.shape(layer, v))
            if p.name == "contour" and "blush" in layer.plan.products:  # contour sits under the blush, not beneath
                blush = scratch.setdefault("blush", PRODUCTS["blush"].shape(layer, v))  # it: dark pink over contour
                shape = shape * (1 - 0.8 * blush.clamp(0, 1))  # reads as a mauve bruise
            tone = lin_of_lab(layer.shade_lab(p.name, reference)) / lin_of_lab(layer.skin_lab).clamp_min(1e-4)
            factor = factor + (shape * layer.skin_area)[None, None] * (tone - 1)
        return x * factor


@register_product
class Contour(Shading):
    name, order, relative_tone, cap_all = "contour", 10, (-24.0, 1.0, 3.0), True
    bounds = {"cheek": Bound(0.0, 0.5, 0.25, True), "jaw": Bound(0.0, 0.45, 0.2, True),
              "temple": Bound(0.0, 0.5, 0.2, True), "nose": Bound(0.0, 0.5, 0.2, True),
              "forehead": Bound(0.0, 0.4, 0.15, True), "cheek_dy": Bound(-0.1, 0.1, 0.0),
              "cheek_len": Bound(0.4, 0.7, 0.55), "cheek_w": Bound(0.05, 0.12, 0.08),
              "nose_dx": Bound(-0.04, 0.04, 0.0)}

    def shape(self, layer, v):
        g, p = layer.low, "contour"
        out = torch.zeros(g.shape)
        for s in SIDES:
            a = g.point(1, s) + g.offset(0.0, v(p, "cheek_dy"), s)
            b = a + v(p, "cheek_len") * (g.point(48, s) - g.point(1, s))
            out = out + v(p, "cheek") * g.stroke(a, b, v(p, "cheek_w"), taper=0.5)
            inward = g.offset(-0.08, -0.02, s)
            out = out + v(p, "jaw") * (g.stroke(g.point(3, s) + inward, g.point(5, s) + inward, 0.06)
                                       + g.stroke(g.point(5, s) + inward, g.point(7, s) + inward, 0.05, taper=0.5))
            temple = g.point(17, s) + 0.3 * (g.point(0, s) - g.point(17, s)) + g.offset(0.02, -0.3, s)
            out = out + v(p, "temple") * g.ellipse(temple, 0.12, 0.2, 0.0)
            nose_a = g.point(27, s) * 0.5 + g.point(21, s) * 0.5 + g.offset(v(p, "nose_dx"), 0.05, s)
            nose_b = g.lm[30] + g.offset(0.13 + v(p, "nose_dx"), -0.12, s)
            out = out + v(p, "nose") * g.stroke(nose_a, nose_b, 0.035)
            out = out + v(p, "forehead") * g.ellipse(g.point(18, s) + g.offset(0.05, -0.5, s), 0.16, 0.12, 0.0)
        return out


@register_product
class Bronzer(Shading):
    """Where the sun hits: upper cheekbones, temples, forehead edges."""

    name, order, shade_lightness, relative_tone = "bronzer", 11, 4.0, (-14.0, 4.0, 12.0)
    bounds = {"opacity": Bound(0.0, 0.5, 0.25, True), "dy": Bound(-0.08, 0.08, 0.0),
              "width": Bound(0.08, 0.16, 0.11)}

    def shape(self, layer, v):
        g, p = layer.low, "bronzer"
        out = torch.zeros(g.shape)
        for s in SIDES:
            a = g.point(0, s) + g.offset(-0.05, v(p, "dy"), s)
            b = a + 0.45 * (g.lm[30] - a)
            out = out + v(p, "opacity") * (g.stroke(a, b, v(p, "width"), taper=0.4)
                                           + 0.7 * g.ellipse(g.point(18, s) + g.offset(0.1, -0.45, s), 0.2, 0.15,
                                                             0.0))
        return out


@register_product
class Highlight(Shading):
    name, order, relative_tone, cap_all = "highlight", 12, (18.0, -1.0, 2.0), True
    bounds = {"cheekbone": Bound(0.0, 0.6, 0.3, True), "nose": Bound(0.0, 0.5, 0.25, True),
              "forehead": Bound(0.0, 0.5, 0.2, True), "chin": Bound(0.0, 0.5, 0.2, True),
              "browbone": Bound(0.0, 0.5, 0.15, True), "cupid": Bound(0.0, 0.5, 0.2, True),
              "cheek_dy": Bound(-0.08, 0.08, 0.0)}

    def shape(self, layer, v):
        g, p = layer.low, "highlight"
        out = torch.zeros(g.shape)
        for s in SIDES:
            a = g.point(36, s) + g.offset(0.05, 0.28 + v(p, "cheek_dy"), s)
            b = g.point(0, s) + g.offset(-0.1, 0.05 + v(p, "cheek_dy"), s)
            out = out + v(p, "cheekbone") * g.stroke(a, b, 0.05)
            out = out + v(p, "browbone") * g.stroke(g.point(19, s) + g.offset(0, 0.12, s),
                                                    g.point(17, s) + g.offset(0, 0.1, s), 0.03)
        # centre-line shapes, drawn once
        out = out + v(p, "nose") * g.stroke(g.lm[27] + g.offset(0, 0.12, 1), g.lm[30] + g.offset(0, -0.1, 1), 0.03)
        mid = 0.5 * (g.lm[21] + g.lm[22])
        out = out + v(p, "forehead") * g.ellipse(mid + g.offset(0, -0.42, 1), 0.14, 0.18, 0.0)
        out = out + v(p, "chin") * g.ellipse(g.lm[8] + g.offset(0, -0.16, 1), 0.1, 0.07, 0.0)
        out = out + v(p, "cupid") * g.ellipse(g.lm[51] + g.offset(0, -0.05, 1), 0.06, 0.025, 0.0)
        return out


# Blush is a sheer wash whose lightness follows the wearer: its pigment's L* lies between the skin's minus BLUSH_DEPTH
# and the skin's own, so a rose blush reads pink over pale skin (not a dark, mauve bruise) and deepens over dark skin
# (not a chalky pastel).
BLUSH_DEPTH = 12.0


@register_product
class Blush(Product):
    name, order, shade_lightness = "blush", 20, 4.0
    bounds = {"opacity": Bound(0.1, 0.55, 0.35, True), "dx": Bound(-0.06, 0.12, 0.0), "dy": Bound(-0.1, 0.1, 0.0),
              "size": Bound(0.14, 0.28, 0.2), "aspect": Bound(1.0, 1.7, 1.3), "angle": Bound(-0.45, 0.45, 0.2)}

    def base_shade(self, layer, shade):
        base, skin = super().base_shade(layer, shade), float(layer.skin_lab[0])
        return torch.cat([base[:1].clamp(skin - BLUSH_DEPTH, skin), base[1:]])

    def shape(self, layer, v: Values) -> torch.Tensor:
        """Both cheeks' blush ellipses on the apples of the cheeks (full resolution, peak ~1), faded out before
        the nose wings: blush across the nose reads as sunburn."""
        g, low = layer.geo, layer.low
        across = ((low.grid - g.origin) * g.ex).sum(-1) / g.u  # face-frame x, eye distances
        out = 0.0
        for s in SIDES:
            wing = float(((g.point(31, s) - g.origin) * g.ex).sum() / g.u)
            beyond = torch.sigmoid((s * (across - wing) - 0.06) / 0.04)
            out = out + beyond * low.ellipse(g.point(31, s) * 0.35 + g.point(2, s) * 0.3 + g.point(41, s) * 0.35
                                             + g.offset(v("blush", "dx"), v("blush", "dy"), s),
                                             v("blush", "size") * v("blush", "aspect"), v("blush", "size"),
                                             -s * v("blush", "angle"))
        return g.upsample(out)

    def paint(self, layer, x, v, reference, scratch):
        blush = scratch["blush"] if "blush" in scratch else self.shape(layer, v)
        return layer.cover(x, "blush", v("blush", "opacity") * blush * layer.skin_area, reference)


EYESHADOW_LIFT = 4.0  # eyeshadow pigment L* is at most the lid's mean L* + this (grey/ashy lids otherwise)
SMOKY_LIGHTNESS = 32.0  # eyeshadow shades darker than this (L*) are applied as a smoky eye


@register_product
class Eyeshadow(Product):
    """Lash line -> crease gradient (densest at the lashes, blended out softly before the crease), deeper towards
    the outer corner, a smudge under the lower lashes."""

    name, order, shade_lightness = "eyeshadow", 30, 4.0
    bounds = {"opacity": Bound(0.3, 0.85, 0.6, True), "height": Bound(0.3, 0.75, 0.5),
              "outer": Bound(0.0, 0.7, 0.35), "lower": Bound(0.0, 0.6, 0.2, True)}
    # a smoky eye (a dark shade: smoky, charcoal, black ...) is worn deepest at the lash line and outer corner,
    # smudged under the lower lashes and blended higher towards the crease
    smoky = {"opacity": Bound(0.45, 0.9, 0.78, True), "height": Bound(0.45, 0.8, 0.6),
             "outer": Bound(0.3, 0.9, 0.65), "lower": Bound(0.2, 0.7, 0.45, True)}

    def variants(self):
        return {self.name: self.bounds, "eyeshadow:smoky": self.smoky}

    def variant(self, shade):
        if shade.rgb is not None and float(lab_of(shade.rgb)[0]) < SMOKY_LIGHTNESS:
            return "eyeshadow:smoky"
        return self.name

    def area(self, layer):
        return layer.lids_mask

    def prepare(self, layer):
        geo = layer.geo
        layer.lids = [(geo.soft(a, 0.9), t, s) for a, t, s in (geo.lid(side) for side in SIDES)]
        layer.under = [(geo.soft(a, 0.6), d) for a, d in (geo.under_eye(side) for side in SIDES)]
        layer.below_brows = geo.clear_of(geo.regions.brows(), 0.05)  # shadow fades out before the brows
        # per eye, the maps no setting moves (once, not every render): lid area, lash-line -> brow coordinate t,
        # outer-corner weight, the deep shade's weight on the lid, the under-lash smudge
        layer.lid_maps = []
        for (area, t, s_pos), (under, d_low) in zip(layer.lids, layer.under, strict=True):
            outer = torch.sigmoid((s_pos - 0.55) / 0.15)
            smudge = under * torch.exp(-0.5 * (d_low / (0.08 * geo.u)) ** 2) * (0.55 + 0.45 * outer)
            layer.lid_maps.append((area, t, outer, area * outer * torch.exp(-t / 0.6), smudge))

    def base_shade(self, layer, shade):  # never lighter than the lid it sits on: a light shade on a shadowed lid
        base = super().base_shade(layer, shade)  # is ash
        return torch.cat([base[:1].clamp_max(layer.lid_lightness + EYESHADOW_LIFT), base[1:]])

    def paint(self, layer, x, v, reference, scratch):
        g = layer.geo
        lid_lab = layer.shade_lab("eyeshadow", reference)
        deep_lab = deep_shade(lid_lab)
        cov, depth = torch.zeros(g.shape), torch.zeros(g.shape)
        height = v("eyeshadow", "height")
        for area, t, outer, lid_depth, smudge in layer.lid_maps:
            reach = height * (1 + 0.3 * outer)  # the outer V rises a little higher than the inner lid
            fade = torch.sigmoid((reach - t) / 0.15) * (1 - 0.35 * (t / reach).clamp(0, 1))
            cov = cov + area * fade
            depth = torch.maximum(depth, lid_depth)
            cov = cov + v("eyeshadow", "lower") * smudge
            depth = torch.maximum(depth, v("eyeshadow", "lower") * smudge)
        cov = cov.clamp(0, 1) * layer.below_brows
        w = (v("eyeshadow", "outer") * depth.clamp(0, 1))[None, None]
        pigment = lin_of_lab(lid_lab) * (1 - w) + lin_of_lab(deep_lab) * w
        return layer.cover(x, "eyeshadow", v("eyeshadow", "opacity") * cov.clamp(0, 1), reference, lab=pigment)


@register_product
class Brows(Product):
    """Brow fill along the brow landmarks (their upper edge), thickness and arch within a small range."""

    name, order, shade_lightness = "brows", 40, 3.0
    bounds = {"opacity": Bound(0.15, 0.6, 0.35, True), "thickness": Bound(0.85, 1.25, 1.0),
              "arch": Bound(-0.03, 0.04, 0.0)}

    def area(self, layer):
        return layer.geo.regions.brows()

    def paint(self, layer, x, v, reference, scratch):
        g = layer.geo
        cov = torch.zeros(g.shape)
        half = 0.055 * g.u * v("brows", "thickness")
        for s in SIDES:
            pts = torch.stack([g.point(i, s) for i in (21, 20, 19, 18, 17)])
            lift = torch.tensor([0.0, 0.5, 1.0, 0.5, 0.0])[:, None] * g.offset(0.0, -v("brows", "arch"), s)
            pts = pts + lift + half * g.ey
            widths = half * torch.tensor([1.0, 1.0, 0.95, 0.8, 0.5])
            win, box = g.window(g.np_lm[[side_index(i, s) for i in (17, 18, 19, 20, 21)]], 0.2)
            cov = torch.maximum(cov, g.paste(win.band(pts, widths, soft=1.2 * layer.px), box))
        return layer.cover(x, "brows", v("brows", "opacity") * cov, reference)


@register_product
class Eyeliner(Product):
    """A line along the upper lashes, thin inside, thicker outside, ending in a wing out and up."""

    name, order, shade_lightness = "eyeliner", 50, 3.0
    bounds = {"opacity": Bound(0.5, 0.95, 0.85), "thickness": Bound(0.015, 0.04, 0.025, True),
              "wing": Bound(0.04, 0.3, 0.15, True), "angle": Bound(0.15, 0.6, 0.35)}

    def area(self, layer):
        return layer.lids_mask

    def paint(self, layer, x, v, reference, scratch):
        g = layer.geo
        cov = torch.zeros(g.shape)
        thick = v("eyeliner", "thickness") * g.u
        for s in SIDES:
            pts = torch.stack([g.point(i, s) for i in (39, 38, 37, 36)])
            pts = pts - 0.6 * thick * g.ey  # sit on the lashes, above the opening
            ang = v("eyeliner", "angle")
            tip = pts[-1] + g.offset(v("eyeliner", "wing") * torch.cos(ang), -v("eyeliner", "wing") * torch.sin(ang), s)
            pts = torch.cat([pts, tip[None]])
            widths = torch.stack([0.35 * thick, 0.6 * thick, 0.85 * thick, thick, 0.15 * thick + 0.3])
            win, box = g.window(g.np_lm[[side_index(i, s) for i in (36, 39)]], 0.45)
            cov = torch.maximum(cov, g.paste(win.band(pts, widths, soft=0.6 * layer.px), box))
        return layer.cover(x, "eyeliner", v("eyeliner", "opacity") * cov, reference)


@register_product
class Lipstick(Product):
    """Lip colour within the lip line (overdrawn up to 2 px), and a gloss: a screen with a pale tint of the shade
    (a white film over a rose lip reads grey-mauve)."""

    name, order, shade_lightness = "lipstick", 60, 4.0
    bounds = {"opacity": Bound(0.45, 0.95, 0.75, True), "overdraw": Bound(-1.5, 2.0, 0.0),
              "gloss": Bound(0.0, 0.25, 0.12)}  # a stronger white screen reads as a grey film on dark lips
    shading_power = 0.6  # a creamy pigment evens out the lips' own dark lines and shadowed upper lip (fully: plum)

    def area(self, layer):
        return layer.geo.regions.lips()

    def prepare(self, layer):
        layer.lip_sd = layer.geo.lips_signed_distance()  # teeth and inner mouth are cut by the engine afterwards

    def paint(self, layer, x, v, reference, scratch):
        g, u, px = layer.geo, layer.geo.u, layer.px
        cov = torch.sigmoid((layer.lip_sd + v("lipstick", "overdraw") * px) / (0.8 * px))
        x = layer.cover(x, "lipstick", v("lipstick", "opacity") * cov, reference)
        lower = 0.5 * (g.lm[57] + g.lm[66])
        shine = g.ellipse(lower - 0.02 * u * g.ey, 0.11, 0.03, 0.0) * cov
        tint = 0.5 + 0.5 * lin_of_lab(layer.shade_lab("lipstick", reference)) / lin_of_lab(
            layer.shade_lab("lipstick", reference)).amax().clamp_min(1e-4)
        return x + v("lipstick", "gloss") * shine[None, None] * (tint - x).clamp_min(0)
