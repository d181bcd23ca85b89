"""The one judge: how every front end measures whether a protected face is still recognised.

Judges: each present face-recognition model (cosine of L2-normalised embeddings on a `JUDGE_SIZE` generation crop,
marked ``surrogate`` when the protection was optimised against it, else ``held-out``) and **dlib-bin itself**
(``independent``: dlib's own detector, 5-point chip and ResNet on the photo as written, raw-descriptor distance, its
documented 0.6 rule). dlib-bin shares none of MASQUE's preprocessing, so it catches protections that only fool the
differentiable path they were optimised through.

The protected face is cropped with the *original's* alignment (the photo is pixel-aligned with its original), so the
sidecar written by `masque protect` and `masque check` on the written file compute the same numbers. Everything about
the original and the references is embedded once (`JudgedFace`, `Reference`) and reused for the verdict; the rule
itself lives in `masque.pipeline.verdict`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..embedders import FaceEmbedder, primary_threshold
from ..errors import InputError
from ..faces.align import align_face, crop_to_tensor
from ..faces.detect import Face
from ..faces.templates import generation_template
from ..trace import CostTrace
from .prepare import resize_rgb
from .verdict import FaceVerdict, ModelVerdict, same_person

JUDGE_SIZE = 256  # generation-crop side the judges read: >= 1.6x every model's own input (112-160 px)
DLIB_BIN = "dlib-bin"


@dataclass
class Reference:
    """A reference photo (or crop) of the person, embedded once per judge."""

    name: str
    embeddings: dict[str, torch.Tensor]  # model -> (D,)
    dlib_bin: np.ndarray | None  # dlib-bin's descriptor of its largest face; None for crops or when dlib finds none


@dataclass
class JudgedFace:
    """One face of the original photo as the judges see it (embedded once, before protection)."""

    index: int
    face: Face | None  # None when the input was an aligned crop
    embeddings: dict[str, torch.Tensor]  # a model deferred by `Judge.original` is added by `Judge.verdict`
    dlib_bin: np.ndarray | None
    crop: np.ndarray | None = None  # the judges' crop of the original, kept while some model's embedding is deferred


@dataclass
class Before:
    """The original photo's faces and the references as the judges saw them before protection (`Judge.before`);
    the references show face ``owner`` (a position in ``faces``; None without references)."""

    faces: list[JudgedFace]
    references: list[Reference]
    owner: int | None


class Judge:
    """Present FR models (``surrogates`` marks those optimised against) plus dlib-bin when ``dlib_bin``."""

    def __init__(self, models: Sequence[FaceEmbedder], surrogates: Collection[str] = (), *, dlib_bin: bool = True,
                 threshold_key: str | None = None, size: int = JUDGE_SIZE):
        if not models and not dlib_bin:
            raise InputError("`models` must hold at least one face-recognition model when dlib-bin is off.")
        self.models = list(models)
        self.surrogates = set(surrogates)
        self.dlib_bin = dlib_bin
        self.template = generation_template(size)
        self.keys = {}
        for m in self.models:
            key = threshold_key or primary_threshold(m.thresholds)
            if key not in m.thresholds:
                raise InputError(f"`threshold` must be one of {list(m.thresholds)} for {m.name!r}, got {key!r}.")
            self.keys[m.name] = key
        self._tools = None

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models] + ([DLIB_BIN] if self.dlib_bin else [])

    def _dlib(self):
        if self._tools is None:
            from .dlib_chip import dlib_face_tools

            self._tools = dlib_face_tools()
        return self._tools

    @torch.no_grad()
    def _embed(self, crop: np.ndarray, trace: CostTrace | None, skip: Collection[str] = ()) -> dict[str, torch.Tensor]:
        return {n: e[0] for n, e in self._embed_batch([crop], trace, skip).items()}

    @torch.no_grad()
    def _embed_batch(self, crops: Sequence[np.ndarray], trace: CostTrace | None, skip: Collection[str] = ()
                     ) -> dict[str, torch.Tensor]:
        """(len(crops), D) per model not in ``skip``, one batched pass each (two crops cost ~1.4x one on a CPU)."""
        x = torch.cat([crop_to_tensor(c) for c in crops])
        out = {}
        for m in self.models:
            if m.name in skip:
                continue
            out[m.name] = m(x.to(next(m.parameters()).device)).cpu()
            if trace is not None:
                trace.add(f"judge:{m.name}")
        return out

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The judges' generation crop of ``face`` (photo pixels) at the judge size."""
        return align_face(rgb, face, self.template).crop

    # -- before protection ------------------------------------------------------------------------------------------
    def original(self, rgb: np.ndarray, face: Face, index: int, trace: CostTrace | None = None, *,
                 defer: Collection[str] = ()) -> JudgedFace:
        """The original face as the judges see it. Models in ``defer`` embed it later, in one batch with the
        protected face (`verdict`): a held-out model needs the original only for the verdict."""
        desc = self._dlib().face_descriptor(rgb, face.box) if self.dlib_bin else None
        crop = self.crop(rgb, face)
        return JudgedFace(index, face, self._embed(crop, trace, skip=defer), desc, crop if defer else None)

    def original_crop(self, crop: np.ndarray, trace: CostTrace | None = None) -> JudgedFace:
        return JudgedFace(0, None, self._embed(self._resized(crop), trace), None)

    def reference(self, rgb: np.ndarray, face: Face, name: str, trace: CostTrace | None = None) -> Reference:
        """A reference photo whose largest face is ``face`` (dlib-bin reads the face in the same box)."""
        desc = self._dlib().face_descriptor(rgb, face.box) if self.dlib_bin else None
        return Reference(name, self._embed(self.crop(rgb, face), trace), desc)

    def reference_crop(self, crop: np.ndarray, name: str, trace: CostTrace | None = None) -> Reference:
        return Reference(name, self._embed(self._resized(crop), trace), None)

    def _resized(self, crop: np.ndarray) -> np.ndarray:
        return resize_rgb(crop, (self.template.size, self.template.size))

    def owner(self, faces: Sequence[JudgedFace], references: Sequence[Reference]) -> int | None:
        """Position in ``faces`` of the face the references show (highest mean cosine over judges and references);
        ``None`` without references. One face is its own owner."""
        if not references or not faces:
            return None
        if len(faces) == 1 or not self.models:
            return 0
        scores = [np.mean([float(f.embeddings[m] @ r.embeddings[m]) for m in f.embeddings for r in references])
                  for f in faces]
        return int(np.argmax(scores))

    def matched_before(self, original: JudgedFace, reference: Reference) -> list[bool]:
        """Per judge (those that can read both): does it call the unprotected face and ``reference`` the same person?
        The numbers are the verdict's ``references_before``."""
        out = [same_person("cosine", float(original.embeddings[m.name] @ reference.embeddings[m.name]),
                           float(m.thresholds[self.keys[m.name]]))
               for m in self.models if m.name in original.embeddings and m.name in reference.embeddings]
        if self.dlib_bin and original.dlib_bin is not None and reference.dlib_bin is not None:
            from ..embedders.dlib_resnet import SAME_PERSON_DISTANCE

            out.append(same_person("l2", float(np.linalg.norm(original.dlib_bin - reference.dlib_bin)),
                                   SAME_PERSON_DISTANCE))
        return out

    def before(self, rgb: np.ndarray, faces: Sequence[Face], references: Sequence[tuple[str, np.ndarray, Face]],
               trace: CostTrace | None = None, *, defer: Collection[str] = ()) -> Before:
        """Every face of the original and each reference photo (name, pixels, its face), embedded once; the
        references are given to the face they show best (`owner`)."""
        originals = [self.original(rgb, f, i, trace, defer=defer) for i, f in enumerate(faces)]
        refs = [self.reference(r, f, name, trace) for name, r, f in references]
        return Before(originals, refs, self.owner(originals, refs))

    def before_crop(self, crop: np.ndarray, references: Sequence[tuple[str, np.ndarray]],
                    trace: CostTrace | None = None) -> Before:
        """`before` for inputs that already are aligned generation crops (no detection, no dlib-bin)."""
        refs = [self.reference_crop(r, name, trace) for name, r in references]
        return Before([self.original_crop(crop, trace)], refs, 0 if refs else None)

    # -- after protection -------------------------------------------------------------------------------------------
    def verdicts(self, before: Before, protected: np.ndarray, trace: CostTrace | None = None, *,
                 faces: Sequence[Face] | None = None) -> list[FaceVerdict]:
        """One verdict per face of ``before`` on the protected photo, in order. ``faces``: the faces found again in
        a protected copy that is not pixel-aligned with the original (resized, re-encoded): face ``i`` is read
        there, and an original face beyond them gets no verdict."""
        out = []
        for o in before.faces:
            if faces is not None:
                if o.index >= len(faces):
                    continue
                o = JudgedFace(o.index, faces[o.index], o.embeddings, o.dlib_bin, o.crop)
            out.append(self.verdict(o, protected, before.references if before.owner == o.index else (),
                                    trace=trace))
        return out

    def verdict(self, original: JudgedFace, protected: np.ndarray, references: Sequence[Reference] = (), *,
                trace: CostTrace | None = None) -> FaceVerdict:
        """Judge the protected photo (or, for crop inputs, the protected crop) against the original face and the
        references (the pair photos); every judge gets one row."""
        after = self.crop(protected, original.face) if original.face is not None else self._resized(protected)
        emb = self._embed(after, trace, skip=[m.name for m in self.models if m.name not in original.embeddings])
        deferred = [m.name for m in self.models if m.name not in original.embeddings]
        if deferred:  # before and after in one pass per model
            if original.crop is None:
                raise InputError(f"`original` lacks the embeddings of {deferred} and the crop to compute them.")
            both = self._embed_batch([original.crop, after], trace, skip=set(original.embeddings))
            original.embeddings.update({n: e[0] for n, e in both.items()})
            emb.update({n: e[1] for n, e in both.items()})
        rows = []
        for m in self.models:
            name = m.name
            rows.append(ModelVerdict(
                name, "surrogate" if name in self.surrogates else "held-out", "cosine", self.keys[name],
                float(m.thresholds[self.keys[name]]), float(emb[name] @ original.embeddings[name]),
                {r.name: float(emb[name] @ r.embeddings[name]) for r in references},
                {r.name: float(original.embeddings[name] @ r.embeddings[name]) for r in references}))
        if self.dlib_bin and original.face is not None and original.dlib_bin is not None:
            rows.append(self._dlib_bin_row(original, protected, references))
        box = [int(v) for v in original.face.box] if original.face is not None else None
        return FaceVerdict(original.index, box, [r.name for r in references], rows)

    def _dlib_bin_row(self, original: JudgedFace, protected: np.ndarray, references: Sequence[Reference]
                      ) -> ModelVerdict:
        from ..embedders.dlib_resnet import SAME_PERSON_DISTANCE

        after = self._dlib().face_descriptor(protected, original.face.box)

        def dist(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
            return None if a is None or b is None else float(np.linalg.norm(a - b))

        return ModelVerdict(DLIB_BIN, "independent", "l2", f"l2<{SAME_PERSON_DISTANCE}", SAME_PERSON_DISTANCE,
                            dist(after, original.dlib_bin), {r.name: dist(after, r.dlib_bin) for r in references},
                            {r.name: dist(original.dlib_bin, r.dlib_bin) for r in references})
