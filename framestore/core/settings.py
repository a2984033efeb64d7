"""How a store is to be written, checked once, before anything touches the disk."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import yaml

from .._disk.columns import RESERVED_COLUMNS
from .._disk.metadata import STORE_KEY, StoreMetadata
from ..codecs import DEFAULT_FORMAT, FormatSpec, get_supported_formats, resolve_format
from ..codecs.base import ImageSpec
from ..codecs.video import check_fps
from ..errors import InvalidArgumentError, InvalidFrameError, UnknownFormatError
from .dialect import opencv_conversion

DEFAULT_CHUNKSIZE = 500
DEFAULT_FPS = 25.0  # the video time base of a store written without a stated rate


@dataclass(frozen=True)
class WriteSettings:
    """Everything a writer needs to know of the store it writes (picklable). Make one with
    :meth:`build`, which checks every setting."""

    format: FormatSpec
    spec: ImageSpec
    """Shape and dtype of every frame."""
    chunksize: int
    """Frames per chunk."""
    fps: float | None
    """The nominal frame rate, as stated by the caller (None: not stated; the store is then
    judged by its measured rate, and videos get a time base of ``DEFAULT_FPS``)."""
    codec_options: dict[str, str]
    """Passed to the encoder."""
    columns: np.dtype[np.void]
    """The per-frame columns, packed: one field per column, little-endian."""
    user_metadata: dict[str, Any]
    derived_from: dict[str, Any] | None = None
    """What the store was made from, and how (a stitch's sources and parameters)."""
    encoding: str | None = None
    """imgstore's ``encoding`` (``cv_bayerbg``, ...): the OpenCV colour conversion every
    frame gets when read, such as raw Bayer frames to BGR."""

    @classmethod
    def build(
        cls,
        fmt: str = DEFAULT_FORMAT,
        *,
        imgshape: Any,
        imgdtype: Any = np.uint8,
        chunksize: int = DEFAULT_CHUNKSIZE,
        fps: float | None = None,
        metadata: dict[str, Any] | None = None,
        codec_options: dict[str, str] | None = None,
        frame_columns: dict[str, Any] | None = None,
        derived_from: dict[str, Any] | None = None,
        encoding: str | None = None,
    ) -> WriteSettings:
        """The settings of a new store, from :func:`framestore.new_for_format`'s
        arguments; a bad one raises ``InvalidFrameError`` or ``ValueError`` naming it."""
        format_spec = resolve_format(fmt)
        if format_spec.video is not None and not format_spec.video.encoder:
            raise UnknownFormatError(
                f"format '{fmt}' is read here, never written frame by frame ({format_spec.description}); "
                f"choose one of: {', '.join(get_supported_formats())}"
            )
        spec = _image_spec(imgshape, imgdtype)
        format_spec.check_image_spec(spec)
        if int(chunksize) < 1:
            raise InvalidArgumentError(f"chunksize must be at least 1, got {chunksize}")
        if format_spec.video is not None and fps is not None:
            check_fps(format_spec.video, float(fps))
        user = _checked_user_metadata(metadata)
        if encoding:
            _check_encoding(encoding, spec)
        return cls(
            format=format_spec,
            spec=spec,
            chunksize=int(chunksize),
            fps=None if fps is None else float(fps),
            codec_options=dict(codec_options or {}),
            columns=_columns_dtype(frame_columns),
            user_metadata=user,
            derived_from=derived_from,
            encoding=encoding or None,
        )

    @property
    def time_base_fps(self) -> float:
        """The rate a video chunk's time base is made from: the stated one, or ``DEFAULT_FPS``."""
        return self.fps or DEFAULT_FPS

    @property
    def column_names(self) -> tuple[str, ...]:
        return self.columns.names or ()

    @property
    def columns_header(self) -> list[list[str]]:
        """The per-frame columns as a journal's header lists them: ``[name, dtype]``."""
        return [[n, self.columns[n].str] for n in self.column_names]

    def without_derived_from(self) -> WriteSettings:
        return replace(self, derived_from=None)

    def new_metadata(self) -> StoreMetadata:
        """The ``metadata.yaml`` of a store written with these settings: a new uuid, created now."""
        return StoreMetadata.new(
            format=self.format.name,
            store_class=self.format.store_class,
            chunksize=self.chunksize,
            imgshape=self.spec.shape,
            imgdtype=str(self.spec.dtype),
            extension=self.format.extension,
            fps=self.fps,
            codec_options=self.codec_options,
            frame_columns={n: str(self.columns[n]) for n in self.column_names},
            derived_from=self.derived_from,
            encoding=self.encoding,
            user=self.user_metadata,
        )


def _check_encoding(encoding: str, spec: ImageSpec) -> None:
    """Refuse an encoding that OpenCV cannot apply to these frames."""
    try:
        cv2.cvtColor(np.zeros(spec.shape, spec.dtype), opencv_conversion(encoding))
    except cv2.error:
        raise InvalidFrameError(
            f"encoding '{encoding}' does not apply to {spec.shape} {spec.dtype} frames"
        ) from None


def _image_spec(imgshape: Any, imgdtype: Any) -> ImageSpec:
    try:
        shape = tuple(int(v) for v in imgshape)
    except (TypeError, ValueError):
        raise InvalidFrameError(
            f"imgshape must be (height, width) or (height, width, 3), got {imgshape!r}"
        ) from None
    if len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3) or min(shape) < 1:
        raise InvalidFrameError(f"imgshape must be (height, width) or (height, width, 3), got {imgshape!r}")
    dtype = np.dtype(imgdtype)
    if dtype not in (np.uint8, np.uint16):
        raise InvalidFrameError(f"imgdtype must be uint8 or uint16, got {dtype}")
    if dtype == np.uint16 and len(shape) == 3:
        raise InvalidFrameError("uint16 frames must be grayscale (height, width)")
    return ImageSpec(shape, dtype)


def _columns_dtype(frame_columns: dict[str, Any] | None) -> np.dtype[np.void]:
    """The packed dtype of the declared per-frame columns (numbers and booleans only)."""
    fields = []
    for name, kind in (frame_columns or {}).items():
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_COLUMNS:
            raise ValueError(
                f"per-frame column name {name!r} must be an identifier and not one of {RESERVED_COLUMNS}"
            )
        dtype = np.dtype(kind)
        if dtype.kind not in "biuf":
            raise ValueError(f"per-frame column '{name}' must be numeric or boolean, got {dtype}")
        fields.append((name, dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype))
    return np.dtype(fields)


def _checked_user_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    user = dict(metadata or {})
    if STORE_KEY in user:
        raise ValueError(f"metadata key '{STORE_KEY}' is reserved for the store's own settings")
    try:
        yaml.safe_dump(user)
    except yaml.YAMLError as exc:
        raise ValueError(
            f"metadata must hold plain YAML values (str, numbers, lists, dicts): {exc}"
        ) from None
    return user
