"""Shared checks of the evaluation tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def changes_near_lips(tmp_path_factory):
    """``check(original_path, protected_photo_path)``: do the changed pixels of the protected photo all lie near the
    lips? The reference is independent of the masker: the detected lip landmarks' bounding box in the photo, padded by
    a quarter of the mouth width (the feathered edge) plus one 8x8 JPEG block. The protected photo is compared with
    the original written the same way (JPEG re-encodes identical blocks identically), so re-encoding noise is not a
    change; returns (any change, every change near the lips)."""
    from masque.faces.detect import detect_faces
    from masque.io import read_image, write_image

    folder = tmp_path_factory.mktemp("reencoded")

    def check(original, protected) -> tuple[bool, bool]:
        image, out = read_image(original), read_image(protected).rgb
        same_way = folder / f"reference{protected.suffix}"
        write_image(same_way, image.rgb, like=image)
        rgb = read_image(same_way).rgb
        lips = detect_faces(image.rgb)[0].landmarks68[48:60]
        pad = 0.25 * np.ptp(lips[:, 0]) + 8
        ys, xs = np.nonzero(np.any(rgb != out, axis=2))
        if not len(ys):
            return False, True
        near = (xs.min() >= lips[:, 0].min() - pad and xs.max() <= lips[:, 0].max() + pad
                and ys.min() >= lips[:, 1].min() - pad and ys.max() <= lips[:, 1].max() + pad)
        return True, bool(near)

    return check
