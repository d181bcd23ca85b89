"""The answer to one protection request: what the page displays, built from a `ProtectReport` and the judges'
verdicts (the same ones `masque protect` writes into its sidecar and `masque check` computes)."""

from __future__ import annotations

import base64
import io

# Browsers preview these natively; anything else (TIFF, ...) gets a PNG preview while the download keeps the format.
BROWSER_FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"), "WEBP": ("image/webp", ".webp"),
                   "GIF": ("image/gif", ".gif"), "BMP": ("image/bmp", ".bmp")}
OTHER_EXTENSIONS = {"TIFF": ".tiff"}


def answer(report, data: bytes, fmt: str, photo_name: str, pair_name: str | None,
           format_notes: list[str] | None = None, *, diffusion_available: bool = False) -> dict:
    """The JSON the page shows: the image (and a browser preview), the sidecar, per-face verdicts (with boxes, which
    the page numbers on the preview, and each judge's role), possibly missed faces, the hint (naming only what the
    page offers: ``diffusion_available`` says whether its diffusion choice is enabled) and what the output format
    could not keep."""
    from ..hints import escalation_line, missed_faces_hint, reshape_line, weak_protection_hint
    from ..makeup.prompt import STRENGTHS
    from ..pipeline.verdict import ROLE_MEANINGS

    mime = BROWSER_FORMATS.get(fmt, ("application/octet-stream", ""))[0]
    preview, preview_mime = data, mime
    if fmt not in BROWSER_FORMATS:
        from PIL import Image

        buf = io.BytesIO()
        with Image.open(io.BytesIO(data)) as im:
            im.save(buf, format="PNG")
        preview, preview_mime = buf.getvalue(), "image/png"
    sidecar = report.to_dict()
    sidecar["input"], sidecar["output"] = photo_name, report.output.name
    sidecar["settings"]["pair"] = [pair_name] if pair_name else []
    faces = [{"index": f.index, "box": f.box, "anchor": f.anchor, "status": f.status, "verdict": f.verdict.to_dict(),
              "rows": _page_rows(f.verdict), "bare_regions": f.bare_regions,
              "escalation": f.escalation.to_dict() if f.escalation is not None else None,
              "escalation_line": escalation_line(f.index + 1, f.escalation.to_dict(), f.anchor != "self", "web",
                                                 strengths=STRENGTHS, faces=len(report.faces))
              if f.escalation is not None else None,  # the page numbers faces from 1
              "reshape_line": reshape_line(f.index + 1, f.engine["reshape"], f.engine.get("quality") or {})
              if f.engine.get("reshape") else None}
             for f in report.faces if f.verdict is not None]
    summary = report.summary
    weak = summary["still_matched_by"]
    weak_hint = weak_protection_hint(weak, report.settings, audience="web", diffusion_available=diffusion_available,
                                     strengths=STRENGTHS, has_pair=bool(pair_name), faces=len(report.faces)
                                     ) if weak else None
    notes = ([weak_hint] if weak_hint else []) + summary["warnings"]
    if not notes and summary["protected"] < len(report.faces):
        notes = ["Some faces could not be judged; check the result again before posting."]
    plan = next((f.engine.get("plan") for f in report.faces if f.engine.get("plan")), None)
    if plan and notes:  # the parametric engine: what its products and strength are measured to give
        from ..makeup.expected import expected_protection

        notes.append(expected_protection(list(plan["products"]), plan["strength"], audience="web"))
    hint = " ".join(notes) or None
    return {"filename": report.output.name, "mime": mime, "image": base64.b64encode(data).decode("ascii"),
            "preview": base64.b64encode(preview).decode("ascii") if preview is not data else None,
            "preview_mime": preview_mime, "sidecar": sidecar, "sidecar_name": report.output.name + ".json",
            "faces_found": report.faces_found, "faces_protected": summary["protected"], "summary": summary,
            "faces": faces, "weak": weak, "hint": hint, "strength": plan["strength"] if plan else None,
            "until_protected": report.settings.get("until_protected"),
            "roles": {role: ROLE_MEANINGS[role] for role in dict.fromkeys(r["role"] for f in faces for r in f["rows"])},
            "possibly_missed": [{"box": list(b), "score": round(s, 3)} for b, s in report.possibly_missed],
            "missed_hint": missed_faces_hint(report.possibly_missed, report.settings.get("detector", ""), "web"),
            "notes": format_notes or [], "engine": report.settings.get("engine"),
            "engine_reason": report.settings.get("engine_reason"),
            "seconds": round(report.seconds, 1)}


def _page_rows(verdict) -> list[dict]:
    """The page's table: one row per judge and comparison (before = the reference vs the original, unprotected).
    ``protected`` is None on a row the verdict rule does not read: the original's, when there are references
    (`ModelVerdict.recognised`)."""
    rows = []
    for m in verdict.models:
        pairs = [("original", None, m.vs_original, not m.vs_references)] + [
            (name, m.references_before[name], after, True) for name, after in m.vs_references.items()]
        for against, before, after, decides in pairs:
            rows.append({"model": m.model, "against": against, "role": m.role, "metric": m.metric, "before": before,
                         "after": after, "threshold": m.threshold,
                         "protected": not m.matches(after) if decides else None})
    return rows
