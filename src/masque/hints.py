"""Advice for a user whose protected photo some model still matches (one text for the CLI summary and the web page).

The advice is built from what the run already used, so it never suggests what is already there: a larger region only
when the prompt's regions leave one to add, the diffusion engine only when another engine ran, command-line flags only
on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

LARGER_REGIONS = (("cheeks", "'and pink blush'"), ("skin", "'tan foundation'"))  # most protective last


def weak_protection_hint(models: Sequence[str], settings: Mapping | None = None,
                         audience: Literal["cli", "web"] = "cli", *, diffusion_available: bool = True,
                         strengths: Sequence[str] = (), has_pair: bool | None = None, faces: int = 1) -> str:
    """One line: who still matches, then only the remedies this run has not used yet and the user can reach.

    ``settings`` is the report's settings (``regions``, ``engine``, ``engine_config``); without it every remedy is
    listed. The web page has no steps setting and shows its own verdict, so its line names neither `--steps` nor
    `masque check`; it offers the diffusion method only when ``diffusion_available`` (else that choice is greyed out).
    ``strengths``: the strength levels, gentlest first (`masque.makeup.prompt.STRENGTHS`, passed in: this helper
    layer sits below `masque.makeup`); with them a stronger level is offered when the run used a weaker one.
    ``has_pair``: whether the run had a pair photo (False: say how to add one, worded for a photo of ``faces``
    faces, `pair_advice`; None: not known).
    """
    settings = settings or {}
    regions = set(settings.get("regions") or ())
    cli = audience == "cli"
    remedies = []
    missing = [example for region, example in LARGER_REGIONS if region not in regions]
    if missing and "skin" not in regions:
        lead = "Small regions (lips) protect weakly: " if regions <= {"lips", "eyes", "brows"} else ""
        remedies.append(f"{lead}add a larger region to the makeup (e.g. {' or '.join(missing)})")
    cap = (settings.get("until_protected") or {}).get("max_strength")  # escalation went up to its cap
    strength = cap or (settings.get("engine_config") or {}).get("strength")
    if isinstance(strength, str) and strength in strengths and strength != strengths[-1]:
        if cap:
            remedies.append(f"raise `--max-strength` (now {cap})" if cli else f"raise 'up to' above {cap}")
        else:
            remedies.append(f"raise `--strength` (now {strength})" if cli else
                            f"choose a stronger strength than {strength}")
    if cli:  # the page has no steps setting
        remedies.append("raise `--steps`")
    if settings.get("engine") != "diffusion" and (cli or diffusion_available):
        remedies.append("use the diffusion engine (needs Stable Diffusion weights)" if cli else
                        "choose the diffusion method")
    if has_pair is False:
        remedies.append(pair_advice(faces, audience))
    if not remedies:
        remedies.append("try another photo of you as the pair photo" if not cli else
                        "add `--pair` photos of the same person")
    then = "; verify with `masque check` before posting." if cli else ", then press Protect again."
    return f"Still matched by: {', '.join(models)}. To protect more strongly: {'; '.join(remedies)}{then}"


def pair_advice(faces: int, audience: Literal["cli", "web"] = "cli") -> str:
    """What to do for a face that had no pair photo. A pair photo shows one person: in a group photo it is used for
    the one face it matches (the judges pick it), and every other face is protected against itself (single mode), so
    protecting everyone with a pair means one run per person, each on the previous run's output."""
    if faces <= 1:
        return "add another photo of you with `--pair`" if audience == "cli" else "add another photo of you"
    if audience == "cli":
        return ("in a group photo a `--pair` photo is used for the one face it shows (the others are protected "
                "against themselves): protect each person with a photo of them, one run per person, each on the "
                "last run's output (`--faces N --pair THEIR_PHOTO`)")
    return ("in a group photo another photo is used for the one face it shows: protect the photo once per person, "
            "each time with another photo of that person, starting from the last result")


def missed_faces_hint(possibly_missed: Sequence, detector: str, audience: Literal["cli", "web"] = "cli") -> str | None:
    """One line when the detector saw face-like regions it did not protect (None when there were none)."""
    if not possibly_missed:
        return None
    n = len(possibly_missed)
    where = "; ".join(f"box {list(b)}" for b, _ in possibly_missed)  # every one: the user checks each
    if audience == "web":
        where = "marked '?' on the preview"
    better = ""
    if detector in ("hog", "cnn"):  # "auto" and "hog+cnn" already asked both detectors
        better = " or try again with `--detector hog+cnn`" if audience == "cli" else \
            " or try again with the thorough face finder"
    plural = n > 1
    return (f"{n} more region{'s' if plural else ''} may be {'faces' if plural else 'a face'} that "
            f"{'were' if plural else 'was'} not protected ({where}): check the photo{better}.")


def escalation_line(index: int, escalation: Mapping, has_pair: bool = False,
                    audience: Literal["cli", "web"] = "cli", *, strengths: Sequence[str], faces: int = 1) -> str:
    """One line per face after `--until-protected`: the level it needed, or that the cap was reached and what next.

    ``escalation`` is the face's sidecar entry (``escalation``, ``strength_reached``, ``cap_reached``); ``has_pair``:
    this face had a pair photo of its own (so that is not the advice); ``strengths``: the levels, gentlest first
    (`masque.makeup.prompt.STRENGTHS`, passed in: this helper layer sits below `masque.makeup`); ``faces``: how many
    faces the photo has (a group photo's advice about pairs differs, `pair_advice`)."""
    steps = escalation["escalation"]
    tried = ", ".join(f"{s['strength']}: {s['status']}" for s in steps)
    level = escalation["strength_reached"]
    if not escalation["cap_reached"]:
        status = steps[-1]["status"]
        return f"face {index}: {status} at strength {level} ({tried})."
    if level != strengths[-1]:
        nxt = (f"raise `--max-strength` (up to {strengths[-1]})" if audience == "cli"
               else f"raise 'up to' (the strongest level is {strengths[-1]})")
    else:
        nxt = pair_advice(faces, audience) if not has_pair else "see the advice above"
    return f"face {index}: not protected at the cap {level} ({tried}); next: {nxt}."


def reshape_line(index: int, reshape: Mapping, quality: Mapping) -> str:
    """How far the reshape moved face ``index`` (the engine's ``details["reshape"]``), in words a user can check."""
    if not reshape.get("max_px"):
        return f"face {index} reshape: none used (up to {reshape.get('amplitude_px', 0):g} px allowed)"
    used = ", ".join(f"{name.replace('_', ' ')} {value:.0%}" for name, value in reshape.get("retouch", {}).items()
                     if value > 0.005)
    eyes = reshape.get("eye_area_change_pct") or []
    texture = f"; texture SSIM {quality['texture_ssim']:.3f} (shape set aside)" if "texture_ssim" in quality else ""
    return (f"face {index} reshape: landmarks moved up to {reshape['max_landmark_px']:.2f} px of the crop "
            f"({reshape['max_landmark_iod_pct']:.1f} % of the eye distance)"
            + (f"; eye openings {', '.join(f'{e:+.1f} %' for e in eyes)}" if eyes else "")
            + (f"; retouch: {used}" if used else "") + texture)
