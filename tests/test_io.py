"""Safe I/O: every bad input is built here, and the input file must never change (hash before/after)."""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from masque.errors import InputError
from masque.io import LoadedImage, read_image, write_image


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pattern(h: int = 48, w: int = 64) -> np.ndarray:
    """Blocky colour pattern (survives JPEG well) that is not symmetric, so rotations are detectable."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x // 16) * 60, (y // 16) * 80, np.full_like(x, 40)], axis=2).astype(np.uint8)
    rgb[:16, :16] = (250, 250, 250)  # bright top-left corner marks orientation
    return rgb


def _jpeg(path: Path, rgb: np.ndarray, **kw) -> Path:
    Image.fromarray(rgb).save(path, "JPEG", quality=98, **kw)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# --- reading bad files -------------------------------------------------------------------------------------------


def test_zero_bytes(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty") as e:
        read_image(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_text_file_named_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not an image\n")
    with pytest.raises(InputError, match="not a recognised image") as e:
        read_image(p)
    assert str(p) in str(e.value)


def test_truncated_jpeg(tmp_path):
    full = _jpeg(tmp_path / "full.jpg", np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    p = tmp_path / "truncated.jpg"
    p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    before = _sha(p)
    with pytest.raises(InputError, match="truncated or corrupt") as e:
        read_image(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)
    assert _sha(p) == before


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="not a regular file"):
        read_image(tmp_path)


def test_decompression_bomb_rejected_from_header(tmp_path):
    """A PNG whose header claims 30000x30000 (900 MP) but holds almost no data: refused before decoding."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100)
    p = tmp_path / "bomb.png"
    p.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(InputError, match=r"30000x30000.*--max-pixels N") as e:
        read_image(p)
    assert str(p) in str(e.value)
    assert Image.MAX_IMAGE_PIXELS is not None  # PIL's global guard was restored


def test_max_pixels_is_configurable(tmp_path):
    p = tmp_path / "small.png"
    Image.fromarray(_pattern()).save(p)
    with pytest.raises(InputError, match="max_pixels"):
        read_image(p, max_pixels=1000)
    assert read_image(p, max_pixels=64 * 48).rgb.shape == (48, 64, 3)


# --- mode normalisation -------------------------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    rgb = _pattern()
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(p, "JPEG", quality=98)
    assert Image.open(p).mode == "CMYK"
    img = read_image(p)
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == rgb.shape and img.alpha is None
    assert np.abs(img.rgb.astype(int) - rgb).mean() < 6


def test_cmyk_input_gets_the_same_kind_of_note_as_16_bit(tmp_path):
    """Issue 21 item 9: the RGB output of a CMYK photo is said in a `Note:` line (an `OutputFormatWarning`, which the
    CLI and the web page print), as 16-bit and greyscale inputs are; an RGB input gets none."""
    from masque.io import OutputFormatWarning

    notes = {}
    for mode in ("CMYK", "RGB"):
        p = tmp_path / f"{mode}.jpg"
        Image.fromarray(_pattern()).convert(mode).save(p, "JPEG", quality=98)
        img = read_image(p)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            write_image(tmp_path / f"{mode}.out.jpg", img.rgb, like=img)
        notes[mode] = [str(w.message) for w in caught if issubclass(w.category, OutputFormatWarning)]
    assert len(notes["CMYK"]) == 1 and "CMYK" in notes["CMYK"][0] and "RGB" in notes["CMYK"][0], notes
    assert notes["RGB"] == []


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    p = tmp_path / "deep.png"
    Image.fromarray(ramp).save(p)
    img = read_image(p)
    assert img.rgb.shape == (8, 64, 3)
    expected = np.rint(ramp / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(img.rgb[..., 0], expected)
    np.testing.assert_array_equal(img.rgb[..., 0], img.rgb[..., 2])
    assert img.rgb.max() == 255 and len(np.unique(img.rgb)) > 32  # a ramp, not a clipped white field


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "1"])
def test_modes_become_rgb_and_alpha_is_kept(tmp_path, mode):
    rgba = np.dstack([_pattern(), np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))])
    p = tmp_path / f"{mode}.png"
    Image.fromarray(rgba, "RGBA").convert(mode).save(p)
    img = read_image(p)
    assert img.rgb.shape == (48, 64, 3) and img.rgb.dtype == np.uint8
    if mode in ("RGBA", "LA"):
        np.testing.assert_array_equal(img.alpha, rgba[..., 3])
    elif mode == "P":  # Pillow quantises RGBA to a palette with per-entry transparency
        assert np.abs(img.alpha.astype(int) - rgba[..., 3]).mean() < 20
    else:
        assert img.alpha is None
    out = write_image(tmp_path / f"out_{mode}.png", img.rgb, like=img)
    back = Image.open(out)
    assert back.mode == ("RGBA" if img.alpha is not None else "RGB")


def test_exif_rotation_applied(tmp_path):
    rgb = _pattern()
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored pixels must be rotated 90 degrees clockwise for display
    exif[ExifTags.Base.Make] = "TestCam"
    p = _jpeg(tmp_path / "rotated.jpg", rgb, exif=exif.tobytes())
    img = read_image(p)
    expected = np.rot90(rgb, k=-1)
    assert img.rgb.shape == expected.shape == (64, 48, 3)
    assert np.abs(img.rgb.astype(int) - expected).mean() < 4
    assert img.rgb[:16, -16:].mean() > 200  # the bright corner moved from top-left to top-right
    # the kept EXIF says "upright", since the pixels are rotated already
    kept_exif = Image.Exif()
    kept_exif.load(img.info["exif"])
    assert kept_exif.get(ExifTags.Base.Orientation, 1) == 1 and kept_exif[ExifTags.Base.Make] == "TestCam"
    kept = Image.open(write_image(tmp_path / "kept.jpg", img.rgb, like=img, keep_metadata=True))
    assert kept.getexif().get(ExifTags.Base.Orientation, 1) == 1
    assert kept.getexif()[ExifTags.Base.Make] == "TestCam"
    assert kept.size == (48, 64)


# --- writing -------------------------------------------------------------------------------------------------------


@pytest.fixture
def gps_jpeg(tmp_path) -> Path:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (52.0, 22.0, 5.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (4.0, 53.0, 0.0),
    }
    p = tmp_path / "gps.jpg"
    Image.fromarray(_pattern()).save(
        p, "JPEG", quality=95, exif=exif, comment=b"secret note", xmp=b"<x:xmpmeta>secret</x:xmpmeta>"
    )
    assert Image.open(p).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the fixture really carries GPS
    return p


def test_metadata_stripped_by_default(gps_jpeg, tmp_path):
    before = _sha(gps_jpeg)
    img = read_image(gps_jpeg)
    out = write_image(tmp_path / "out.jpg", img.rgb, like=img)
    raw = out.read_bytes()
    assert b"secret" not in raw and b"TestCam" not in raw and b"Exif" not in raw
    back = Image.open(out)
    assert back.format == "JPEG" and len(back.getexif()) == 0 and "comment" not in back.info
    assert _sha(gps_jpeg) == before


def test_keep_metadata_keeps_exif(gps_jpeg, tmp_path):
    img = read_image(gps_jpeg)
    back = Image.open(write_image(tmp_path / "out.jpg", img.rgb, like=img, keep_metadata=True))
    assert back.getexif().get(ExifTags.Base.Make) == "TestCam"
    assert back.getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_jpeg_written_at_high_quality_444(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    src = tmp_path / "src.png"
    Image.fromarray(rgb).save(src)
    img = read_image(src)
    out = write_image(tmp_path / "out.jpg", img.rgb, format="JPEG")
    back = Image.open(out)
    assert back.format == "JPEG"
    assert back.layer[0][1:3] == back.layer[1][1:3]  # same sampling factors for luma and chroma: 4:4:4
    # quality 95 keeps noise far better than the PIL default of 75
    low = io.BytesIO()
    Image.fromarray(rgb).save(low, "JPEG")
    err95 = np.abs(np.asarray(back, int) - rgb).mean()
    err75 = np.abs(np.asarray(Image.open(low), int) - rgb).mean()
    assert err95 < err75


def test_png_round_trip_is_lossless_and_format_follows_input(tmp_path):
    rgb = _pattern()
    src = tmp_path / "src.png"
    Image.fromarray(rgb).save(src)
    img = read_image(src)
    assert img.format == "PNG"
    out = write_image(tmp_path / "out.png", img.rgb, like=img)
    np.testing.assert_array_equal(read_image(out).rgb, rgb)
    out2 = write_image(tmp_path / "out2.jpg", img.rgb)  # no `like`: format from the extension
    assert Image.open(out2).format == "JPEG"


def test_never_writes_over_the_input(gps_jpeg):
    before = _sha(gps_jpeg)
    img = read_image(gps_jpeg)
    with pytest.raises(InputError, match="input file"):
        write_image(gps_jpeg, img.rgb, like=img)
    with pytest.raises(InputError, match="input file"):
        write_image(gps_jpeg.parent / "." / gps_jpeg.name, img.rgb, like=img)
    assert _sha(gps_jpeg) == before


@pytest.mark.parametrize("spelling", ["relative", "dotdot", "symlink", "hardlink"])
def test_other_spellings_of_the_input_are_refused(tmp_path, monkeypatch, spelling):
    """Mutant 2 of issue 10 (the same-file check reduced to path equality): the input reached through a relative
    path, ``sub/../in.png``, a symlink or a hard link must be refused too, and the input's bytes stay the same."""
    import os

    src = tmp_path / "in.png"
    Image.fromarray(_pattern()).save(src)
    img = read_image(src)
    (tmp_path / "sub").mkdir()
    if spelling == "relative":
        monkeypatch.chdir(tmp_path)
        target = Path("in.png")
    elif spelling == "dotdot":
        target = tmp_path / "sub" / ".." / "in.png"
    elif spelling == "symlink":
        target = tmp_path / "link.png"
        target.symlink_to(src)
    else:
        target = tmp_path / "hard.png"
        os.link(src, target)
    assert str(target) != str(img.path)  # a different spelling, the same file
    before = _sha(src)
    with pytest.raises(InputError, match="input file"):
        write_image(target, np.zeros_like(img.rgb), like=img)
    assert _sha(src) == before


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    img = LoadedImage(rgb=_pattern(), alpha=None, format="PNG", path=tmp_path / "in.png")
    target = tmp_path / "out.png"
    target.write_bytes(b"previous result")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, img.rgb, like=img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp file left
    assert target.read_bytes() == b"previous result"  # the old file is intact


def test_write_validation(tmp_path):
    rgb = _pattern()
    with pytest.raises(InputError, match="rgb"):
        write_image(tmp_path / "a.png", rgb.astype(np.float32))
    with pytest.raises(InputError, match="alpha"):
        write_image(tmp_path / "a.jpg", rgb, alpha=np.zeros(rgb.shape[:2], np.uint8))
    with pytest.raises(InputError, match="does not exist"):
        write_image(tmp_path / "missing" / "a.png", rgb)
    with pytest.raises(InputError, match="extension"):
        write_image(tmp_path / "a.unknown", rgb)
    assert list(tmp_path.iterdir()) == []


def test_icc_profile_dropped_by_default_kept_on_request(tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "tagged.png"
    Image.fromarray(_pattern()).save(src, icc_profile=icc)
    img = read_image(src)
    assert img.info["icc_profile"] == icc
    plain = write_image(tmp_path / "plain.png", img.rgb, like=img)
    assert "icc_profile" not in Image.open(plain).info
    np.testing.assert_array_equal(read_image(plain).rgb, img.rgb)  # sRGB-tagged: pixels are not touched
    kept = write_image(tmp_path / "kept.png", img.rgb, like=img, keep_metadata=True)
    assert Image.open(kept).info["icc_profile"] == icc


def test_non_srgb_profile_is_converted_when_dropped(tmp_path):
    """A profile not named sRGB goes through the colour transform (here an renamed sRGB, so colours barely move)."""
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    other = srgb.replace("sRGB".encode("utf-16-be"), "test".encode("utf-16-be"))
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(other))).startswith("test")
    src = tmp_path / "tagged.png"
    Image.fromarray(_pattern()).save(src, icc_profile=other)
    img = read_image(src)
    import warnings

    from masque.io import OutputFormatWarning

    with warnings.catch_warnings(record=True) as caught:  # issue 29: the conversion is said, as a Note
        warnings.simplefilter("always")
        out = write_image(tmp_path / "out.png", img.rgb, like=img)
    notes = [str(w.message) for w in caught if issubclass(w.category, OutputFormatWarning)]
    assert len(notes) == 1 and "colour profile 'test" in notes[0] and "converted to sRGB" in notes[0], notes
    assert "icc_profile" not in Image.open(out).info
    assert np.abs(read_image(out).rgb.astype(int) - img.rgb).max() <= 2
    with warnings.catch_warnings(record=True) as caught:  # kept: nothing converted, nothing to say
        warnings.simplefilter("always")
        write_image(tmp_path / "kept.png", img.rgb, like=img, keep_metadata=True)
    assert not [w for w in caught if issubclass(w.category, OutputFormatWarning)]
