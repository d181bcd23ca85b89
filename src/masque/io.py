"""Safe image reading and atomic, metadata-stripping writing.

Reading: the header size is checked against ``max_pixels`` *before* any pixel is decoded (decompression bombs), EXIF
orientation is applied to the pixels, and every mode (RGBA, LA, L, P, CMYK, I;16, ...) becomes RGB uint8 with the
alpha channel, if any, kept aside to re-attach on output. Any unreadable file (missing, empty, truncated, corrupt,
not an image) raises `InputError` with one line naming the path.

Writing: the output goes through the one atomic writer (`masque.atomic.write_atomic`: a temporary file in the
destination folder, renamed into place), so a crash never leaves a partial file, and the input file is never
overwritten. Pixels are written into a fresh image, so EXIF (GPS included), XMP and comments are dropped unless
``keep_metadata=True`` (which keeps EXIF, with the orientation reset because the pixels are already upright, and the ICC
profile). When the profile is dropped, pixels of a non-sRGB input (e.g. Display P3) are converted to sRGB so colours
still look the same. Multi-frame files (GIF, TIFF pages) contribute their first frame.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .atomic import TEMP_SUFFIX, write_atomic
from .errors import InputError, UserNote

DEFAULT_MAX_PIXELS = 2 * 89_478_485  # PIL's own error threshold (2 x Image.MAX_IMAGE_PIXELS): ~179 MP
ORIENTATION_TAG = 0x0112
JPEG_QUALITY = 95
_CANONICAL_FORMAT = {"MPO": "JPEG", "JPG": "JPEG"}  # iPhone/camera multi-picture JPEGs are written as plain JPEG
_PIL_LIMIT_LOCK = threading.Lock()


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8, EXIF orientation applied
    alpha: np.ndarray | None  # (H, W) uint8 if the input had alpha
    format: str  # PIL format name of the input ("JPEG", "PNG", ...)
    path: Path
    info: dict = field(default_factory=dict)  # "exif" (orientation reset) and "icc_profile", for keep_metadata
    # how the input was stored: "mode" and "bits" per sample; for JPEG also "qtables" and "subsampling", which
    # `write_image` reuses so that re-encoding changes untouched pixels as little as JPEG allows
    encoding: dict = field(default_factory=dict)


class OutputFormatWarning(UserNote):
    """The written photo cannot keep something of the input (bit depth, greyscale); the message says what."""


class ImageTooLargeError(InputError):
    """The photo has more pixels than allowed; ``pixels`` and ``limit`` let each front end phrase its own remedy."""

    def __init__(self, path: Path, width: int, height: int, limit: int):
        self.path, self.width, self.height, self.limit = path, width, height, limit
        advice = "downscale the photo, or raise the limit ({}) if you trust the file"
        super().__init__(field="image", value=path, rule=f"{path}: {width}x{height} = {width * height / 1e6:.0f} MP "
                         f"exceeds the limit of {limit / 1e6:.0f} MP (decompression-bomb guard)",
                         hint={"cli": advice.format("`--max-pixels N`"), "api": advice.format("`max_pixels=N`"),
                               "web": "make it smaller and try again"})


class UnreadableImageError(InputError):
    """A file that is no readable image; ``damaged``: it exists but does not decode (truncated, corrupt, empty, not
    an image), so a front end can say "choose another photo" rather than "check the path"."""

    def __init__(self, path: Path, why: str, damaged: bool = True):
        self.path, self.damaged = path, damaged
        super().__init__(field="image", value=path, rule=f"{path}: {why}")


def _bad(path: Path, why: str, damaged: bool = True) -> UnreadableImageError:
    return UnreadableImageError(path, why, damaged)


def _open_checked(path: Path, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse oversized images before decoding; our limit replaces PIL's global one."""
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # the explicit check below is the guard; restore PIL's at once
        try:
            im = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise ImageTooLargeError(path, w, h, max_pixels)
    if w == 0 or h == 0:
        im.close()
        raise _bad(path, f"image has zero size {w}x{h}")
    return im


def _to_rgb(im: Image.Image) -> tuple[Image.Image, np.ndarray | None, bool]:
    """RGB image, optional alpha array, and whether the pixels were colour-managed to sRGB already."""
    alpha = None
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: PIL's convert("L") clips at 255, so scale 0..65535 -> 0..255 ourselves.
        a = np.asarray(im).astype(np.float64)
        grey = np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2)), None, False
    if im.mode == "CMYK":
        icc = im.info.get("icc_profile")
        if icc:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            return out, None, True
        return im.convert("RGB"), None, False
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A")).copy()
        return rgba.convert("RGB"), alpha, False
    return (im if im.mode == "RGB" else im.convert("RGB")), None, False


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read a photo as upright RGB uint8; `InputError` (one line, naming the path) for anything unreadable."""
    path = Path(path)
    if not path.exists():
        raise _bad(path, "file does not exist; check the path", damaged=False)
    if not path.is_file():
        raise _bad(path, "is not a regular file; pass an image file", damaged=False)
    if path.stat().st_size == 0:
        raise _bad(path, "file is empty (0 bytes); pass a valid image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = _open_checked(path, max_pixels)
            with im:
                fmt = _CANONICAL_FORMAT.get(im.format or "", im.format or "")
                encoding = _encoding_of(im, fmt)  # before decoding: the tile's raw mode tells the stored depth
                im.load()  # full decode: truncated/corrupt data fails here
                upright = ImageOps.exif_transpose(im)
                exif = upright.getexif()
                if ORIENTATION_TAG in exif:
                    exif[ORIENTATION_TAG] = 1
                info: dict = {}
                if len(exif):
                    info["exif"] = exif.tobytes()
                rgb_im, alpha, managed = _to_rgb(upright)
                if upright.info.get("icc_profile") and not managed and upright.mode != "CMYK":
                    info["icc_profile"] = upright.info["icc_profile"]
                rgb = np.ascontiguousarray(np.asarray(rgb_im, dtype=np.uint8))
    except InputError:
        raise
    except PermissionError as e:
        raise _bad(path, "cannot be read (permission denied); check the file's permissions", damaged=False) from e
    except UnidentifiedImageError as e:
        raise _bad(path, "not a recognised image format (corrupt, or not an image); pass a JPEG/PNG/WebP/TIFF") from e
    except (OSError, SyntaxError, ValueError, EOFError, ImageCms.PyCMSError) as e:
        raise _bad(
            path,
            f"cannot decode ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'corrupt'}); "
            "the file is truncated or corrupt, re-export it",
        ) from e
    return LoadedImage(rgb=rgb, alpha=alpha, format=fmt, path=path, info=info, encoding=encoding)


def read_mask(mask: str | Path | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask image or array -> (H, W) float32 in [0, 1]; it must match the photo's ``shape`` (H, W) and mark
    something (white = makeup)."""
    if isinstance(mask, np.ndarray):
        arr = mask.astype(np.float32)
        arr = arr / 255.0 if arr.max(initial=0) > 1 else arr
        name = "array"
    else:
        arr = read_image(mask).rgb.astype(np.float32).mean(axis=2) / 255.0
        name = str(mask)
    if arr.ndim != 2 or arr.shape != tuple(shape):
        raise InputError(f"`mask` {name!r} must have the photo's size {shape[1]}x{shape[0]} (WxH); "
                         f"got {arr.shape[1] if arr.ndim > 1 else '?'}x{arr.shape[0]}.")
    if arr.max() <= 0:
        raise InputError(f"`mask` {name!r} is empty (all black); white marks the region to make up.")
    return arr


def _encoding_of(im: Image.Image, fmt: str) -> dict:
    """Mode, bits per sample and (JPEG) quantisation tables and chroma subsampling of the file as stored."""
    raw = str(im.tile[0].args if im.tile else "")
    enc: dict = {"mode": im.mode, "bits": 16 if (";16" in raw or im.mode.startswith("I;16")) else 8}
    if fmt == "JPEG" and getattr(im, "quantization", None):
        from PIL import JpegImagePlugin

        enc["qtables"] = {k: list(v) for k, v in im.quantization.items()}
        enc["subsampling"] = JpegImagePlugin.get_sampling(im)  # 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, -1 unknown
    return enc


def format_changes(like: LoadedImage, fmt: str, keep_metadata: bool = False) -> list[str]:
    """What the written ``fmt`` file cannot keep of the input ``like`` (empty when nothing is lost); without
    ``keep_metadata`` also a colour profile other than sRGB, which is dropped after converting the pixels."""
    notes = []
    profile = _profile_name(like.info.get("icc_profile")) if not keep_metadata else None
    if profile is not None:
        notes.append(f"{like.path.name} has the colour profile {profile!r}; the protected photo is converted to sRGB "
                     "and written without it (colours look the same; --keep-metadata keeps the profile)")
    if like.encoding.get("bits", 8) > 8:
        notes.append(f"{like.path.name} has 16 bits per sample; the protected photo is written with 8 (Pillow "
                     f"cannot write 16-bit colour {fmt})")
    if like.encoding.get("mode") in ("L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "1"):
        notes.append(f"{like.path.name} is greyscale; the protected photo is written in colour because the makeup "
                     "is coloured")
    if like.encoding.get("mode") == "CMYK":
        notes.append(f"{like.path.name} is CMYK (print colours); the protected photo is written in RGB (sRGB), as "
                     "screens and the web use")
    return notes


def _format_for(path: Path, like: LoadedImage | None, format: str | None) -> str:
    if format is None and like is not None and like.format:
        format = like.format
    if format is None:
        ext = path.suffix.lower()
        format = Image.registered_extensions().get(ext)
        if format is None:
            raise InputError(
                f"`path` {path}: unknown image extension {ext!r}; use .jpg, .png or .webp, or pass `format`."
            )
    return _CANONICAL_FORMAT.get(format.upper(), format.upper())


def _same_file(a: Path, b: Path) -> bool:
    """Same file on disk: same inode when both exist (catches symlinks and hard links), else the same real path
    (``..`` and symlinked folders resolved)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def default_output_path(photo: Path) -> Path:
    return photo.with_name(f"{photo.stem}.protected{photo.suffix}")


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def _probe_writable(folder: Path) -> str | None:
    """Why nothing can be written in ``folder`` (None when a file can): creates and removes a temporary file exactly
    as `write_image` does, so read-only file systems and permissions (root included) are caught alike."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".masque-probe-", suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(tmp)
    return None


def check_output_path(path: str | Path, *, inputs: Sequence[str | Path] = (), name: str = "--out") -> Path:
    """Fail in one line, before any work, when ``path`` cannot be written: not a file path, its folder missing or not
    writable (read-only folder or file system), or it is one of ``inputs`` (also through ``..``, a symlink or a hard
    link). Returns ``path``."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"`{name}` {str(path)!r} is a folder; give a file path, or a folder only for several photos.")
    for source in inputs:
        if _same_file(path, Path(source)):
            raise InputError(f"`{name}` {str(path)!r} is the input file {str(source)!r}; MASQUE never writes over its "
                             "input: choose another output path.")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"`{name}` {str(path)!r}: the folder {str(folder)!r} {what}; create it first or choose "
                         "another output path.")
    why = _probe_writable(folder)
    if why is not None:
        raise InputError(value=path, rule=f"`{name}` {str(path)!r}: cannot write in the folder {str(folder)!r} "
                         f"({why})", hint=lambda n: f"choose a writable output folder with {n.out}")
    return path


def prepare_output_folder(folder: str | Path, *, name: str = "--out") -> Path:
    """Create the output folder of a batch if needed and check that it is writable, in one line on failure."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"`{name}` must be a folder when protecting several photos; {str(folder)!r} is a file.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"`{name}` folder {str(folder)!r} cannot be created ({exc.strerror or type(exc).__name__}); "
                         "choose a writable output folder.") from exc
    why = _probe_writable(folder)
    if why is not None:
        raise InputError(f"`{name}` folder {str(folder)!r} is not writable ({why}); choose a writable output folder.")
    return folder


def _profile_name(icc: bytes | None) -> str | None:
    """The description of an ICC profile that is not sRGB (None for none, or for sRGB: nothing to convert)."""
    if not icc:
        return None
    name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    return None if "srgb" in name.lower() else name


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Express pixels tagged with ``icc`` in untagged sRGB; an sRGB-tagged image is returned untouched, so pixels
    outside the edited region stay bit-identical (most camera JPEGs embed an sRGB profile)."""
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if _profile_name(icc) is None:
        return img
    converted = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode=img.mode)
    return Image.fromarray(np.asarray(converted))  # fresh image: lcms tags its result with a profile


def write_image(
    path: str | Path,
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    like: LoadedImage | None = None,
    format: str | None = None,
    keep_metadata: bool = False,
    quality: int | None = None,
) -> Path:
    """Atomically write ``rgb`` (H, W, 3) uint8 to ``path`` and return it; never writes over ``like.path``.

    Format: ``format`` if given, else the input's (``like.format``), else from the file extension. JPEG: with
    ``quality=None`` a JPEG input's own quantisation tables and chroma subsampling are reused (re-encoding with the
    same tables changes untouched pixels by at most a few levels, see README), otherwise ``quality`` (default
    `JPEG_QUALITY`) with 4:4:4 chroma so fine makeup colour survives. ``alpha`` defaults to ``like.alpha`` when the
    shapes agree. What the output format cannot keep (16-bit depth, greyscale, CMYK, a non-sRGB colour profile
    converted away) is reported as `OutputFormatWarning`.
    """
    path = Path(path)
    # 1. validate inputs before touching the disk
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InputError(f"`rgb` must be a uint8 array of shape (H, W, 3); got {got}.")
    if alpha is None and like is not None and like.alpha is not None and like.alpha.shape == rgb.shape[:2]:
        alpha = like.alpha
    if alpha is not None and (alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]):
        raise InputError(f"`alpha` must be uint8 of shape {rgb.shape[:2]}; got {alpha.dtype} {alpha.shape}.")
    if like is not None and _same_file(path, like.path):
        raise InputError(
            f"`output` {path} is the input file; choose another output path (inputs are never overwritten)."
        )
    if path.is_dir():
        raise InputError(f"`output` {path} is a folder; pass a file path.")
    if not path.parent.is_dir():
        raise InputError(f"`output` {path}: folder {path.parent} does not exist; create it first.")
    fmt = _format_for(path, like, format)
    Image.init()
    if fmt not in Image.SAVE:
        raise InputError(f"`format` {fmt!r} cannot be written by Pillow; use JPEG, PNG or WEBP.")
    if alpha is not None and fmt == "JPEG":
        raise InputError(f"`format` JPEG cannot store the alpha channel of {path}; write PNG or WebP instead.")
    if quality is not None and not 1 <= quality <= 100:
        raise InputError(f"`quality` must lie in [1, 100]; got {quality}.")

    # 2. build a fresh image: nothing from the input's info (EXIF, XMP, comments, ICC) leaks unless asked for
    img = Image.fromarray(rgb)
    info = like.info if like is not None else {}
    kwargs: dict = {}
    icc = info.get("icc_profile")
    if keep_metadata:
        if info.get("exif"):
            kwargs["exif"] = info["exif"]
        if icc:
            kwargs["icc_profile"] = icc
    elif icc:
        img = _to_srgb(img, icc)  # the profile is dropped, so express the colours in sRGB (the untagged default)
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha))
    source = like.encoding if like is not None else {}
    if fmt == "JPEG" and quality is None and "qtables" in source and source.get("subsampling", -1) >= 0:
        kwargs.update(qtables=source["qtables"], subsampling=source["subsampling"])
    elif fmt == "JPEG":
        kwargs.update(quality=quality or JPEG_QUALITY, subsampling=0)
    elif fmt == "WEBP":
        kwargs.update(quality=quality or JPEG_QUALITY)
    if like is not None:
        for note in format_changes(like, fmt, keep_metadata):
            warnings.warn(note, OutputFormatWarning, stacklevel=2)

    # 3. write atomically (`masque.atomic`: a temporary file beside the target, renamed once complete)
    return write_atomic(path, lambda tmp: img.save(tmp, format=fmt, **kwargs), mode=None)
