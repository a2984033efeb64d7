"""The registry of chunk formats, keyed by the format string in ``metadata.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InvalidFrameError, UnknownFormatError
from .base import ImageSpec
from .images import IMAGE_CODECS, ImageCodec
from .video import VideoCodec

VIDEO_STORE = "VideoImgStore"
DIRECTORY_STORE = "DirectoryImgStore"


@dataclass(frozen=True)
class FormatSpec:
    """One store format: its name, the class imgstore knows it by, and its codec."""

    name: str
    description: str
    video: VideoCodec | None = None
    image: ImageCodec | None = None

    @property
    def store_class(self) -> str:
        return DIRECTORY_STORE if self.image is not None else VIDEO_STORE

    @property
    def extension(self) -> str:
        codec = self.video or self.image
        assert codec is not None
        return codec.extension

    @property
    def image_chunks(self) -> bool:
        return self.image is not None

    @property
    def lossless(self) -> bool:
        codec = self.video or self.image
        assert codec is not None
        return codec.lossless

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.video is not None:
            return tuple(self.video.pix_fmts)
        assert self.image is not None
        return self.image.kinds

    def check_image_spec(self, spec: ImageSpec) -> None:
        """Refuse, up front, frames this format cannot hold exactly as given."""
        if spec.kind not in self.kinds:
            raise InvalidFrameError(
                f"format '{self.name}' cannot hold {spec.kind} frames "
                f"({spec.shape} {spec.dtype}); it holds {', '.join(self.kinds)}"
            )
        if self.video is not None and self.video.even_size_only:
            if spec.height % 2 or spec.width % 2:
                raise InvalidFrameError(
                    f"format '{self.name}' needs an even width and height, got "
                    f"{spec.width}x{spec.height}; pad or crop the frames yourself, or use "
                    "ffv1, raw, png or npy"
                )


def _video(name: str, description: str, codec: VideoCodec) -> FormatSpec:
    return FormatSpec(name, description, video=codec)


_H264 = VideoCodec(
    encoder="libx264",
    extension=".mkv",
    pix_fmts={"gray8": "gray", "color": "yuv420p"},
    lossless=False,
    gop=30,
    options={"preset": "ultrafast", "tune": "zerolatency", "crf": "18"},
    full_range_gray=True,
    even_size_only=True,
    muxer_rewrites_packets=True,
    decode_thread_type="SLICE",  # x264 writes slices: 1.3-1.7x faster single frames than AUTO
    batch_threads=True,
)

_FORMATS: dict[str, FormatSpec] = {
    f.name: f
    for f in (
        _video(
            "ffv1/mkv",
            "lossless FFV1 in Matroska: exact pixels, gray8, gray16 and color",
            VideoCodec(
                encoder="ffv1",
                extension=".mkv",
                pix_fmts={"gray8": "gray", "gray16": "gray16le", "color": "bgr0"},
                lossless=True,
                gop=1,
                options={"level": "3", "slices": "4", "slicecrc": "1"},
                batch_threads=True,
            ),
        ),
        _video(
            "utvideo/avi",
            "lossless Ut Video in AVI: exact pixels, 4-5x faster to read and write than FFV1",
            VideoCodec(
                encoder="utvideo",
                extension=".avi",
                pix_fmts={"gray8": "yuv420p", "color": "gbrp"},
                odd_size_pix_fmts={"gray8": "yuv444p"},
                lossless=True,
                gop=1,
            ),
        ),
        _video(
            "h264/mkv",
            "H.264 (x264 ultrafast, crf 18, keyframe every 30) in Matroska: small, lossy",
            _H264,
        ),
        _video(
            "avc1/mp4",
            "H.264 as h264/mkv, in MP4 (imgstore's avc1/mp4): small, lossy",
            replace(_H264, extension=".mp4"),
        ),
        _video(
            "mjpeg/avi",
            "Motion JPEG in AVI (imgstore's default): intra-only, lossy",
            VideoCodec(
                encoder="mjpeg",
                extension=".avi",
                pix_fmts={"gray8": "yuvj420p", "color": "yuvj420p"},
                lossless=False,
                gop=1,
                quantizer=3,
                batch_threads=True,
            ),
        ),
        _video(
            "raw/nut",
            "uncompressed frames in NUT: fastest to read, largest on disk",
            VideoCodec(
                encoder="rawvideo",
                extension=".nut",
                pix_fmts={"gray8": "gray", "gray16": "gray16le", "color": "bgr24"},
                lossless=True,
                gop=1,
                uncompressed=True,
            ),
        ),
        *(
            FormatSpec(name, f"one {name.upper()} file per frame in chunk folders", image=codec)
            for name, codec in IMAGE_CODECS.items()
        ),
    )
}

# imgstore's names "<image format>+color": without an encoding, the format itself
_IMGSTORE_ALIASES = {f"{name}+color": name for name in ("tif", "png", "jpg", "bmp")}
_ALIASES = {
    "utvideo": "utvideo/avi",
    "ffv1": "ffv1/mkv",
    "h264": "h264/mkv",
    "mjpeg": "mjpeg/avi",
    "raw": "raw/nut",
    **_IMGSTORE_ALIASES,
}
# Lossless and fast: see benchmarks/README.md for the codec survey behind this choice.
DEFAULT_FORMAT = "utvideo/avi"


def get_supported_formats() -> list[str]:
    """Names of the formats framestore writes (short aliases are accepted too)."""
    return sorted(_FORMATS)


def imgstore_aliases() -> list[str]:
    """imgstore's other names of formats framestore writes."""
    return sorted(_IMGSTORE_ALIASES)


# Read only: stores ``framestore import --copy`` made of a video's original packets.
COPY_FORMAT = FormatSpec(
    "copy/mkv",
    "a video's original packets remuxed into Matroska chunks (framestore import --copy)",
    video=VideoCodec(
        encoder="",
        extension=".mkv",
        pix_fmts={"gray8": "", "gray16": "", "color": ""},
        lossless=False,
        gop=0,
        decode_thread_type="AUTO",
    ),
)


def resolve_format(name: str) -> FormatSpec:
    """The format called ``name`` (or one of its aliases)."""
    key = _ALIASES.get(name, name)
    if key == COPY_FORMAT.name:
        return COPY_FORMAT
    try:
        return _FORMATS[key]
    except KeyError:
        choices = ", ".join(get_supported_formats() + sorted(_ALIASES))
        raise UnknownFormatError(f"unknown format '{name}'; choose one of: {choices}") from None
