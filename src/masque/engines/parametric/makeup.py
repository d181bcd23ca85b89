"""A differentiable model of real cosmetics: every parameter is something a make-up artist could set.

Products are pigments laid over skin in linear RGB, each with an opacity and a soft, landmark-anchored shape
(`geometry.FaceGeometry`):

    covering products (foundation, blush, eyeshadow, brows, eyeliner, lipstick):
        x ← lerp(x, c_lin · S(x), α · shape(x))          S = lum(x) / mean skin lum: shading and texture show through
    shading products (contour, highlight, bronzer):    a multiply blend with a skin-derived tone t = lin(c) / lin(skin)
        x ← x · (1 + Σ_k α_k · shape_k(x) · (t − 1))
    gloss:                                             x ← x + g · shape(x) · (tint − x)   (screen, pale shade tint)

Shades live in CIE Lab within a small ball around the plan's shade (the colour family); skin-relative shades
(contour, highlight, skin-matched foundation) are the wearer's median skin Lab moved in lightness and warmth, so skin
never turns grey or green. The parameters themselves (bounded by construction, zero = the tutorial makeup) live in
`settings.CosmeticSettings`, apart from this face's constants, so they can be carried to another face. The layer is
smooth; fine structure is the protective finish's job (`finish.Finish`).
"""

from __future__ import annotations

from collections.abc import Mapping

import kornia
import numpy as np
import torch
from torch import nn

from ...errors import InputError
from ...makeup.prompt import MakeupPlan
from .geometry import SIDES, FaceGeometry, side_index
from .settings import SHADE_LIGHTNESS, CosmeticSettings, lab_of

# How far the optimiser may move a shade within its family, in LCh (not a Lab ball, which let it lower b* and turn
# rose blush and lipstick mauve): lightness up to SHADE_LIGHTNESS[product] lighter and half that darker; chroma up
# to CHROMA_RANGE richer and half that duller; hue angle up to HUE_TOLERANCE degrees warmer (towards the skin's
# hues, ~60°) and half that cooler (towards blue/mauve). So the hue stays the prompt's for any parameter values.
CHROMA_RANGE = 0.12
HUE_TOLERANCE = 6.0  # degrees
# Blush is a sheer wash whose lightness follows the wearer: its pigment's L* lies between the skin's minus BLUSH_DEPTH
# and the skin's own, so a rose blush reads pink over pale skin (not a dark, mauve bruise) and deepens over dark skin
# (not a chalky pastel).
BLUSH_DEPTH = 12.0
EYESHADOW_LIFT = 4.0  # eyeshadow pigment L* is at most the lid's mean L* + this (grey/ashy lids otherwise)
# Skin-relative tones (ΔL, Δa, Δb from the median skin Lab) when the plan's shade is skin-matched.
RELATIVE_TONES: Mapping[str, tuple[float, float, float]] = {
    "foundation": (0.0, 0.0, 0.0), "contour": (-24.0, 1.0, 3.0), "highlight": (18.0, -1.0, 2.0),
    "bronzer": (-14.0, 4.0, 12.0)}


def lin_of_lab(lab: torch.Tensor) -> torch.Tensor:
    """Lab (3,) -> linear RGB (1, 3, 1, 1), clipped to the gamut."""
    rgb = kornia.color.lab_to_rgb(lab.view(1, 3, 1, 1), clip=True)
    return kornia.color.rgb_to_linear_rgb(rgb)


def shade_in_family(base: torch.Tensor, raw: torch.Tensor, lightness: float) -> torch.Tensor:
    """Lab ``base`` moved by the unconstrained ``raw`` (3,) within its colour family: bounded separately in
    lightness (up to ``lightness`` lighter, half that darker), chroma (up to CHROMA_RANGE richer, half that duller)
    and hue angle (HUE_TOLERANCE degrees warmer, half that cooler): darker, duller and cooler is the way to mauve."""
    r = torch.tanh(raw)
    chroma = torch.hypot(base[1], base[2]) * (1 + CHROMA_RANGE * torch.where(r[1] > 0, r[1], 0.5 * r[1]))
    h0 = torch.atan2(base[2], base[1])
    warm = 1.0 if float(torch.sin(float(np.radians(60.0)) - h0)) >= 0 else -1.0  # which way is towards ~60°
    turn = warm * r[2]
    hue = h0 + float(np.radians(HUE_TOLERANCE)) * torch.where(turn > 0, turn, 0.5 * turn) * warm
    light = base[0] + lightness * torch.where(r[0] > 0, r[0], 0.5 * r[0])
    return torch.stack([light, chroma * torch.cos(hue), chroma * torch.sin(hue)])


def deep_shade(lab: torch.Tensor) -> torch.Tensor:
    """The darker shade of the same family an artist presses into the outer corner and lash line: lighter shades
    lose more lightness; yellowish browns turn a little redder (a dark yellow reads olive, a dark brown does not)."""
    hue = torch.atan2(lab[2], lab[1])
    lo, hi = float(np.radians(40.0)), float(np.radians(100.0))
    hue = torch.where((hue > lo) & (hue < hi), torch.clamp(hue - float(np.radians(12.0)), min=lo), hue)
    chroma = 0.9 * torch.hypot(lab[1], lab[2])
    light = lab[0] - (8.0 + 0.25 * lab[0])
    return torch.stack([light.clamp_min(8.0), chroma * torch.cos(hue), chroma * torch.sin(hue)])


def luminance(lin: torch.Tensor) -> torch.Tensor:
    w = torch.tensor((0.2126729, 0.7151522, 0.0721750), dtype=lin.dtype).view(1, 3, 1, 1)
    return (lin * w).sum(1, keepdim=True)


class CosmeticLayer(nn.Module):
    """The plan's products on one face crop (1, 3, S, S): the face's constants (landmarks, skin tone, shading, lid
    and lip fields) bound to ``settings`` (`CosmeticSettings`, the portable parameters; a new set when omitted, or
    one shared with other faces); ``forward()`` renders it, ``reference=True`` the tutorial makeup (every parameter
    at its ``init``)."""

    def __init__(self, crop: torch.Tensor, landmarks: np.ndarray, plan: MakeupPlan,
                 settings: CosmeticSettings | None = None):
        super().__init__()
        if settings is not None and settings.plan != plan:
            raise InputError("`settings` were made for another plan; build them from this one "
                             "(CosmeticSettings(plan)).")
        self.plan, self.crop = plan, crop.detach()
        self.settings = settings if settings is not None else CosmeticSettings(plan)
        size = crop.shape[-1]
        self.geo = geo = FaceGeometry(landmarks, size)
        self.low = geo.coarse(size // 2)  # mid-scale shapes are drawn at half resolution and upsampled
        self.px = size / 256.0  # overdraw and edge softness are in pixels of a 256² crop
        # 1. constants: linear crop, skin likelihood and median skin tone, product areas, eye and lip fields
        self.crop_lin = kornia.color.rgb_to_linear_rgb(self.crop)
        lab = kornia.color.rgb_to_lab(self.crop)
        self.skin_like, self.skin_lab = geo.skin_likelihood(lab)
        self.skin_lum = float(luminance(lin_of_lab(self.skin_lab)))
        self.skin_area = geo.blended_in(geo.skin_area()) * self.skin_like
        # S(x) per product: the crop's luminance over its mean where the product sits, so the pigment's mean is
        # the shade asked for while the skin's (or lips') shading and texture show through
        lum = luminance(self.crop_lin)
        lids = geo.lid(SIDES[0])[0] | geo.lid(SIDES[1])[0]  # the lids themselves, not the dark lash line
        areas = {"lipstick": geo.regions.lips(), "brows": geo.regions.brows(), "eyeshadow": lids, "eyeliner": lids}
        self.lid_lightness = float(lab[0, 0][torch.from_numpy(lids)].mean()) if lids.any() else 100.0
        self.rel_shading = {p: lum / max(float(lum[0, 0][torch.from_numpy(areas[p])].mean()), 1e-4)
                            if p in areas and areas[p].any() else lum / max(self.skin_lum, 1e-4)
                            for p in plan.products}
        if "lipstick" in self.rel_shading:  # a creamy pigment evens out the lips' own dark lines and shadowed upper
            self.rel_shading["lipstick"] = self.rel_shading["lipstick"].pow(0.6)  # lip (fully, they read plum)
        if "eyeshadow" in plan.products or "eyeliner" in plan.products:
            self.lids = [(geo.soft(a, 0.9), t, s) for a, t, s in (geo.lid(side) for side in SIDES)]
            self.under = [(geo.soft(a, 0.6), d) for a, d in (geo.under_eye(side) for side in SIDES)]
            self.below_brows = geo.clear_of(geo.regions.brows(), 0.05)  # shadow fades out before the brows
            # per eye, the maps no setting moves (once, not every render): lid area, lash-line -> brow coordinate t,
            # outer-corner weight, the deep shade's weight on the lid, the under-lash smudge
            self.lid_maps = []
            for (area, t, s_pos), (under, d_low) in zip(self.lids, self.under, strict=True):
                outer = torch.sigmoid((s_pos - 0.55) / 0.15)
                smudge = under * torch.exp(-0.5 * (d_low / (0.08 * geo.u)) ** 2) * (0.55 + 0.45 * outer)
                self.lid_maps.append((area, t, outer, area * outer * torch.exp(-t / 0.6), smudge))
        if "lipstick" in plan.products:
            self.lip_sd = geo.lips_signed_distance()  # teeth and inner mouth are cut by the engine afterwards

    def shade_lab(self, product: str, reference: bool = False) -> torch.Tensor:
        """The product's Lab shade: the plan's (or the skin-relative) shade plus its bounded in-family offset."""
        shade = self.plan.products[product]
        if shade.rgb is None:
            base = self.skin_lab + torch.tensor(RELATIVE_TONES.get(product, (0.0, 0.0, 0.0)))
        elif product in RELATIVE_TONES and product != "foundation":  # a named contour/bronzer: half-way to skin
            base = 0.5 * (self.skin_lab + lab_of(shade.rgb))
        else:
            base = lab_of(shade.rgb)
        if product == "eyeshadow":  # never lighter than the lid it sits on: a light shade on a shadowed lid is ash
            base = torch.cat([base[:1].clamp_max(self.lid_lightness + EYESHADOW_LIFT), base[1:]])
        if product == "blush":
            skin = float(self.skin_lab[0])
            base = torch.cat([base[:1].clamp(skin - BLUSH_DEPTH, skin), base[1:]])
        if product in self.settings.shade_raw and not reference:
            base = shade_in_family(base, self.settings.shade_raw[product], SHADE_LIGHTNESS[product])
        return base

    # -- rendering ---------------------------------------------------------------------------------------------
    def forward(self, reference: bool = False) -> torch.Tensor:
        """The made-up crop in sRGB (1, 3, S, S); identical to the crop wherever no product reaches."""
        x = self.crop_lin
        products = self.plan.products
        vals = self.settings.bounded_values(reference)
        v = lambda p, n: vals[(p, n)]  # noqa: E731
        g, u = self.geo, self.geo.u
        if "foundation" in products:
            x = self._cover(x, "foundation", v("foundation", "opacity") * self.skin_area, reference)
        blush = self.blush_shape(v) if "blush" in products else None
        shading = [(p, g.upsample(self._shading_shape(p, v))) for p in ("contour", "bronzer", "highlight")
                   if p in products]
        if shading:
            factor = 1.0
            for p, shape in shading:
                if p == "contour" and blush is not None:  # contour sits under the blush, not beneath it: dark
                    shape = shape * (1 - 0.8 * blush.clamp(0, 1))  # pink over contour reads as a mauve bruise
                tone = lin_of_lab(self.shade_lab(p, reference)) / lin_of_lab(self.skin_lab).clamp_min(1e-4)
                factor = factor + (shape * self.skin_area)[None, None] * (tone - 1)
            x = x * factor
        if "blush" in products:
            x = self._cover(x, "blush", v("blush", "opacity") * blush * self.skin_area, reference)
        if "eyeshadow" in products:
            x = self._eyeshadow(x, v, reference)
        if "brows" in products:
            x = self._brows(x, v, reference)
        if "eyeliner" in products:
            x = self._eyeliner(x, v, reference)
        if "lipstick" in products:
            cov = torch.sigmoid((self.lip_sd + v("lipstick", "overdraw") * self.px) / (0.8 * self.px))
            x = self._cover(x, "lipstick", v("lipstick", "opacity") * cov, reference)
            lower = 0.5 * (g.lm[57] + g.lm[66])
            shine = g.ellipse(lower - 0.02 * u * g.ey, 0.11, 0.03, 0.0) * cov
            # screen with a pale tint of the shade, not white: a white film over a rose lip reads grey-mauve
            tint = 0.5 + 0.5 * lin_of_lab(self.shade_lab("lipstick", reference)) / lin_of_lab(
                self.shade_lab("lipstick", reference)).amax().clamp_min(1e-4)
            x = x + v("lipstick", "gloss") * shine[None, None] * (tint - x).clamp_min(0)
        return kornia.color.linear_rgb_to_rgb(x.clamp(0, 1)).clamp(0, 1)

    def blush_shape(self, v) -> torch.Tensor:
        """Both cheeks' blush ellipses on the apples of the cheeks (full resolution, peak ~1), faded out before
        the nose wings: blush across the nose reads as sunburn."""
        g, low = self.geo, self.low
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

    def _cover(self, x: torch.Tensor, product: str, alpha: torch.Tensor, reference: bool,
               lab: torch.Tensor | None = None) -> torch.Tensor:
        """lerp(x, pigment · S, α): a translucent pigment whose shading and texture follow the skin under it."""
        lab = self.shade_lab(product, reference) if lab is None else lab
        shading = self.rel_shading[product]
        pigment = lin_of_lab(lab) * shading if lab.ndim == 1 else lab * shading
        alpha = alpha if alpha.ndim == 4 else alpha[None, None]
        return x + alpha * (pigment - x)

    def _shading_shape(self, product: str, v) -> torch.Tensor:
        """Sum of the product's strokes and ellipses (weighted by their intensities), both sides."""
        g = self.low
        out = torch.zeros(g.shape)
        for s in SIDES:
            if product == "contour":
                a = g.point(1, s) + g.offset(0.0, v(product, "cheek_dy"), s)
                b = a + v(product, "cheek_len") * (g.point(48, s) - g.point(1, s))
                out = out + v(product, "cheek") * g.stroke(a, b, v(product, "cheek_w"), taper=0.5)
                inward = g.offset(-0.08, -0.02, s)
                out = out + v(product, "jaw") * (g.stroke(g.point(3, s) + inward, g.point(5, s) + inward, 0.06)
                                                 + g.stroke(g.point(5, s) + inward, g.point(7, s) + inward, 0.05,
                                                            taper=0.5))
                temple = g.point(17, s) + 0.3 * (g.point(0, s) - g.point(17, s)) + g.offset(0.02, -0.3, s)
                out = out + v(product, "temple") * g.ellipse(temple, 0.12, 0.2, 0.0)
                nose_a = g.point(27, s) * 0.5 + g.point(21, s) * 0.5 + g.offset(v(product, "nose_dx"), 0.05, s)
                nose_b = g.lm[30] + g.offset(0.13 + v(product, "nose_dx"), -0.12, s)
                out = out + v(product, "nose") * g.stroke(nose_a, nose_b, 0.035)
                out = out + v(product, "forehead") * g.ellipse(g.point(18, s) + g.offset(0.05, -0.5, s), 0.16, 0.12,
                                                               0.0)
            elif product == "highlight":
                a = g.point(36, s) + g.offset(0.05, 0.28 + v(product, "cheek_dy"), s)
                b = g.point(0, s) + g.offset(-0.1, 0.05 + v(product, "cheek_dy"), s)
                out = out + v(product, "cheekbone") * g.stroke(a, b, 0.05)
                out = out + v(product, "browbone") * g.stroke(g.point(19, s) + g.offset(0, 0.12, s),
                                                              g.point(17, s) + g.offset(0, 0.1, s), 0.03)
            else:  # bronzer: where the sun hits, upper cheekbones, temples, forehead edges
                a = g.point(0, s) + g.offset(-0.05, v(product, "dy"), s)
                b = a + 0.45 * (g.lm[30] - a)
                out = out + v(product, "opacity") * (g.stroke(a, b, v(product, "width"), taper=0.4)
                                                     + 0.7 * g.ellipse(g.point(18, s) + g.offset(0.1, -0.45, s),
                                                                       0.2, 0.15, 0.0))
        if product == "highlight":  # centre-line shapes, drawn once
            out = out + v(product, "nose") * g.stroke(g.lm[27] + g.offset(0, 0.12, 1), g.lm[30] + g.offset(0, -0.1, 1),
                                                      0.03)
            mid = 0.5 * (g.lm[21] + g.lm[22])
            out = out + v(product, "forehead") * g.ellipse(mid + g.offset(0, -0.42, 1), 0.14, 0.18, 0.0)
            out = out + v(product, "chin") * g.ellipse(g.lm[8] + g.offset(0, -0.16, 1), 0.1, 0.07, 0.0)
            out = out + v(product, "cupid") * g.ellipse(g.lm[51] + g.offset(0, -0.05, 1), 0.06, 0.025, 0.0)
        return out

    def _eyeshadow(self, x: torch.Tensor, v, reference: bool) -> torch.Tensor:
        """Lash line -> crease gradient (densest at the lashes, blended out softly before the crease), deeper
        towards the outer corner, a smudge under the lower lashes."""
        g = self.geo
        lid_lab = self.shade_lab("eyeshadow", reference)
        deep_lab = deep_shade(lid_lab)
        cov, depth = torch.zeros(g.shape), torch.zeros(g.shape)
        height = v("eyeshadow", "height")
        for area, t, outer, lid_depth, smudge in self.lid_maps:
            reach = height * (1 + 0.3 * outer)  # the outer V rises a little higher than the inner lid
            fade = torch.sigmoid((reach - t) / 0.15) * (1 - 0.35 * (t / reach).clamp(0, 1))
            cov = cov + area * fade
            depth = torch.maximum(depth, lid_depth)
            cov = cov + v("eyeshadow", "lower") * smudge
            depth = torch.maximum(depth, v("eyeshadow", "lower") * smudge)
        cov = cov.clamp(0, 1) * self.below_brows
        w = (v("eyeshadow", "outer") * depth.clamp(0, 1))[None, None]
        pigment = lin_of_lab(lid_lab) * (1 - w) + lin_of_lab(deep_lab) * w
        return self._cover(x, "eyeshadow", v("eyeshadow", "opacity") * cov.clamp(0, 1), reference, lab=pigment)

    def _eyeliner(self, x: torch.Tensor, v, reference: bool) -> torch.Tensor:
        """A line along the upper lashes, thin inside, thicker outside, ending in a wing out and up."""
        g = self.geo
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
            cov = torch.maximum(cov, g.paste(win.band(pts, widths, soft=0.6 * self.px), box))
        return self._cover(x, "eyeliner", v("eyeliner", "opacity") * cov, reference)

    def _brows(self, x: torch.Tensor, v, reference: bool) -> torch.Tensor:
        """Brow fill along the brow landmarks (their upper edge), thickness and arch within a small range."""
        g = self.geo
        cov = torch.zeros(g.shape)
        half = 0.055 * g.u * v("brows", "thickness")
        for s in SIDES:
            pts = torch.stack([g.point(i, s) for i in (21, 20, 19, 18, 17)])
            lift = torch.tensor([0.0, 0.5, 1.0, 0.5, 0.0])[:, None] * g.offset(0.0, -v("brows", "arch"), s)
            pts = pts + lift + half * g.ey
            widths = half * torch.tensor([1.0, 1.0, 0.95, 0.8, 0.5])
            win, box = g.window(g.np_lm[[side_index(i, s) for i in (17, 18, 19, 20, 21)]], 0.2)
            cov = torch.maximum(cov, g.paste(win.band(pts, widths, soft=1.2 * self.px), box))
        return self._cover(x, "brows", v("brows", "opacity") * cov, reference)
