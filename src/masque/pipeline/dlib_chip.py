"""dlib's face-chip geometry for the dlib-bin judge (`judge.Judge`), also used to calibrate `faces.templates.DLIB_150`.

dlib crops its recognition input with ``get_face_chip(img, shape5, 150, 0.25)``; the chip is described by
``chip_details`` (a rectangle, a rotation angle and the output size). ``get_mapping_to_chip`` in dlib's
``interpolation.h`` maps the rectangle's top-left, top-right and bottom-right corners, rotated by ``angle`` about the
rectangle centre, onto the chip corners ``(0, 0)``, ``(cols-1, 0)``, ``(cols-1, rows-1)``; `image_to_chip_matrix`
rebuilds that affine map so landmark points can be carried into chip pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np

from ..embedders.dlib_resnet import CHIP_PADDING, CHIP_SIZE, dlib_model_path


def image_to_chip_matrix(details) -> np.ndarray:
    """3x3 matrix mapping photo pixel coordinates to chip pixel coordinates for a ``dlib.chip_details``."""
    r = details.rect
    centre = np.array([(r.left() + r.right()) / 2.0, (r.top() + r.bottom()) / 2.0])
    c, s = np.cos(details.angle), np.sin(details.angle)
    rot = np.array([[c, -s], [s, c]])
    corners = np.array([[r.left(), r.top()], [r.right(), r.top()], [r.right(), r.bottom()]], dtype=np.float64)
    src = (corners - centre) @ rot.T + centre
    dst = np.array([[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]], dtype=np.float64)
    affine = np.linalg.solve(np.c_[src, np.ones(3)], dst).T  # (2, 3)
    return np.vstack([affine, [0.0, 0.0, 1.0]])


def points5_from_68(landmarks68: np.ndarray) -> np.ndarray:
    """Template-order five points from 68 landmarks: eye centres (36-41, 42-47), nose tip 30, mouth corners 48, 54."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


class DlibFaceTools:
    """dlib-bin's detector, landmark models, chip extraction and reference descriptor.

    The detector and shape predictors are the face stack's cached instances; get a shared instance of this class
    from `dlib_face_tools()` so the recogniser is loaded once per process too.
    """

    def __init__(self):
        import dlib  # lazy: only the judge, tests and calibration need dlib-bin's recogniser

        from ..faces.detect import LANDMARKS_5, _hog, _predictor

        self.dlib = dlib
        self.detector = _hog()
        self.sp5 = _predictor(LANDMARKS_5)
        self.recognizer = dlib.face_recognition_model_v1(str(dlib_model_path()))

    @property
    def sp68(self):
        """dlib's 68-point model, loaded on first use (0.47 s): only `chip(..., landmarks=True)` needs it."""
        from ..faces.detect import LANDMARKS_68, _predictor

        return _predictor(LANDMARKS_68)

    def largest_face(self, rgb: np.ndarray, upsample: int = 1):
        faces = self.detector(rgb, upsample)
        if not faces:
            return None
        return max(faces, key=lambda r: r.area())

    def chip(self, rgb: np.ndarray, rect=None, upsample: int = 1, *, landmarks: bool = True
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(150x150x3 uint8 chip as dlib makes it, photo->chip 3x3 matrix, 68 landmarks in photo pixels, or None
        without ``landmarks``)."""
        rect = self.largest_face(rgb, upsample) if rect is None else rect
        if rect is None:
            raise ValueError("no face found by dlib's HOG detector")
        shape5 = self.sp5(rgb, rect)
        lm68 = (np.array([[p.x, p.y] for p in self.sp68(rgb, rect).parts()], dtype=np.float64) if landmarks
                else None)
        chip = np.asarray(self.dlib.get_face_chip(rgb, shape5, CHIP_SIZE, CHIP_PADDING))
        matrix = image_to_chip_matrix(self.dlib.get_face_chip_details(shape5, CHIP_SIZE, CHIP_PADDING))
        return chip, matrix, lm68

    def descriptor(self, chip: np.ndarray) -> np.ndarray:
        """dlib-bin's raw 128-D descriptor of an aligned 150x150 uint8 chip."""
        return np.asarray(self.recognizer.compute_face_descriptor(np.ascontiguousarray(chip, dtype=np.uint8)))

    def face_descriptor(self, rgb: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
        """dlib-bin's descriptor of the face in ``box`` (left, top, right, bottom), or of the largest face dlib's own
        detector finds; ``None`` when it finds none. dlib-bin end to end: the independent judge of a protection."""
        rect = None if box is None else self.dlib.rectangle(*(int(v) for v in box))
        try:
            chip, _, _ = self.chip(np.ascontiguousarray(rgb), rect, landmarks=False)
        except ValueError:
            return None
        return self.descriptor(chip)


@cache
def dlib_face_tools() -> DlibFaceTools:
    """The process-wide `DlibFaceTools` (loading the recogniser costs ~0.5 s; judges call this per photo)."""
    return DlibFaceTools()


def calibrate_chip_template(images: Iterable[np.ndarray], *, mirror: bool = True,
                            tools: DlibFaceTools | None = None) -> np.ndarray:
    """Mean chip-pixel position (5, 2) of the 68-derived five points over the largest face of each image.

    ``mirror`` adds each image's left-right mirror, which cancels most of the pose bias of a small photo set.
    """
    tools = tools or dlib_face_tools()
    points = []
    for rgb in images:
        for img in (rgb, np.ascontiguousarray(rgb[:, ::-1])) if mirror else (rgb,):
            _, matrix, lm68 = tools.chip(img, upsample=1)  # DLIB_150 was calibrated with one upsampling
            p5 = points5_from_68(lm68)
            points.append(p5 @ matrix[:2, :2].T + matrix[:2, 2])
    if not points:
        raise ValueError("`images` must contain at least one face")
    return np.mean(points, axis=0)
