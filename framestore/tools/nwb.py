"""Stores out to NWB (Neurodata Without Borders), the format DANDI archives.

Behaviour video becomes an ``ImageSeries`` that points at the store's chunk files
(``external_file``, one per chunk, with ``starting_frame``): nothing is re-encoded, and
``copy_video`` first converts chunks players and DANDI do not take. Imaging data (a
miniscope store, a stitched store) becomes a ``OnePhotonSeries`` written into the file,
chunked and compressed by HDF5, fed one buffer of frames at a time. Every series gets the
store's frame times as ``timestamps`` on one clock: seconds from the session start, the
earliest first frame time of the stores. A ``framestore`` processing module holds each
store's per-frame columns, a table of the stores (uuid, format, time zone, user metadata,
what each was derived from) and a stitched store's scores table.

Needs ``pip install 'framestore[nwb]'`` (pynwb).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import yaml

from .._disk.columns import FRAME_NUMBER, FRAME_TIME
from .._disk.metadata import METADATA_FILENAME
from ..core.reader import StoreReader
from ..core.video_file import VideoFileDialect
from ..errors import InvalidArgumentError, StoreExistsError, StoreWarning
from ..ingest.miniscope import NUM_BUFFERS
from ..sessions.dataset import Dataset, store_paths
from ..sessions.stitch import SCORES_FILE
from .convert import convert

if TYPE_CHECKING:
    from pynwb import NWBFile
    from pynwb.ophys import ImagingPlane

Kind = Literal["behavior", "imaging"]
# chunk formats common players and DANDI take as they are (H.264 in MP4 or Matroska, MJPEG in AVI)
PLAYABLE_FORMATS = frozenset({"avc1/mp4", "h264/mkv", "mjpeg/avi"})
COPY_FORMAT = "avc1/mp4"
MODULE = "framestore"
_STITCH_METHOD = "framestore.stitch/"
_BUFFER_BYTES = 64 * 2**20  # frames handed to HDF5 at once
_HDF5_CHUNK_BYTES = 2**20  # HDF5 chunks of about a megabyte, whole frames
# gzip (the filter every HDF5 reader has): level 1 took half level 4's time for the same
# size on 608x608 miniscope-like frames
_GZIP_LEVEL = 1
_SESSION_FIELDS = (
    "session_description",
    "identifier",
    "session_id",
    "experimenter",
    "experiment_description",
    "lab",
    "institution",
    "keywords",
    "notes",
    "protocol",
)
_SESSION_KEYS = frozenset({*_SESSION_FIELDS, "subject", "device", "imaging_plane"})
_COLUMN_TEXT = {
    FRAME_NUMBER: "the frame number the camera or device gave the frame",
    FRAME_TIME: "the frame's time as recorded, unix seconds",
    "timestamp": "the frame's timestamp in its series: seconds from session_start_time",
    NUM_BUFFERS: "buffers (radio packets) received of the frame",
    "black_padding_px": "pixels the receiver padded with zeros",
    "first_recv_time": "unix time the frame's first buffer was received",
    "last_recv_time": "unix time the frame's last buffer was received",
    "source": "index of the source store the stitched frame was taken from",
    "candidates": "source stores that held a copy of the frame",
}


def _pynwb() -> Any:
    try:
        import pynwb
    except ImportError:
        raise ImportError("NWB export needs pynwb: pip install 'framestore[nwb]'") from None
    return pynwb


def export_nwb(
    stores: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    session: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    imaging: Sequence[str] | None = None,
    behavior: Sequence[str] | None = None,
    copy_video: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``stores`` (stores, or dataset directories: each of their stores but the
    sources of a stitched one) to the NWB file ``output``; returns its path.

    ``session``: NWB session metadata, a mapping or a YAML file with any of
    ``session_description``, ``identifier``, ``session_id``, ``experimenter``,
    ``experiment_description``, ``lab``, ``institution``, ``keywords``, ``notes``,
    ``protocol``, ``subject`` (pynwb ``Subject``'s fields), ``device`` (``name``,
    ``description``) and ``imaging_plane`` (``name``, ``description``,
    ``indicator``, ``location``, ``excitation_lambda``, ``optical_channel``: ``name``,
    ``description``, ``emission_lambda``) for the imaging series.

    A store is imaging data (written into the file) when named in ``imaging`` or, unless
    named in ``behavior``, when it is stitched or has miniscope columns; the others are
    behaviour video, referenced where they are. ``copy_video``: a directory where chunks
    in formats common players do not play (``PLAYABLE_FORMATS``) are first converted to
    H.264 MP4 (a store per store there; it should sit beside ``output``, as the file
    names it relative to itself). ``progress(done, total)``: frames written into the file.
    """
    pynwb = _pynwb()
    out = Path(output)
    if out.exists() and not overwrite:
        raise StoreExistsError(f"{out}: already exists; pass overwrite=True (--force) to replace it")
    info = _session_info(session)
    with contextlib.ExitStack() as stack:
        named = {n: stack.enter_context(StoreReader(p)) for n, p in _store_paths(stores).items()}
        kinds = _kinds(named, imaging or (), behavior or ())
        _check_exportable(named, kinds, copy_video)
        t0 = _session_start(named)
        nwb = _new_file(pynwb, named, info, t0)
        module = nwb.create_processing_module(
            name=MODULE,
            description="frame indexes, per-frame columns and provenance of the framestore stores "
            "this file was exported from",
        )
        imaging_total = sum(len(s) for n, s in named.items() if kinds[n] == "imaging")
        done = [0]

        def advance(frames: int) -> None:
            done[0] += frames
            if progress is not None:
                progress(done[0], imaging_total)

        plane = None
        for name, store in named.items():
            times = _ascending(name, store.frame_times - t0.timestamp())
            if kinds[name] == "imaging":
                plane = plane or _imaging_plane(nwb, info, store)
                nwb.add_acquisition(_imaging_series(name, store, times, plane, advance))
            else:
                video = _playable(name, store, copy_video, stack)
                nwb.add_acquisition(_behavior_series(name, video, out, times))
            module.add(_frame_table(name, store, times))
            scores = _scores_table(name, store)
            if scores is not None:
                module.add(scores)
        module.add(_stores_table(named, kinds))
        metadata = _metadata_table(named)
        if metadata is not None:
            module.add(metadata)
        _write(pynwb, nwb, out)
    return out


def _store_paths(stores: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> dict[str, Any]:
    """Every store to export by a unique name: a dataset's stores but the sources of its
    stitched stores."""
    given = [stores] if isinstance(stores, (str, os.PathLike)) else list(stores)
    if not given:
        raise InvalidArgumentError("export_nwb needs at least one store")
    found: dict[str, Any] = {}
    for path in given:
        paths = dict(store_paths(path))
        if Path(path).is_dir() and not (Path(path) / METADATA_FILENAME).is_file():  # a dataset
            with Dataset.from_directory(path) as dataset:
                sources = {s for names in dataset.stitched().values() for s in names}
            paths = {n: p for n, p in paths.items() if n not in sources}
        for name, p in paths.items():
            unique, k = name, 2
            while unique in found:
                unique, k = f"{name}_{k}", k + 1
            found[unique] = p
    if not found:
        raise InvalidArgumentError(f"no store found in {', '.join(map(str, given))}")
    return found


def _kinds(
    named: Mapping[str, StoreReader], imaging: Sequence[str], behavior: Sequence[str]
) -> dict[str, Kind]:
    unknown = sorted((set(imaging) | set(behavior)) - set(named))
    if unknown:
        raise InvalidArgumentError(f"no store named {unknown}; the stores are {list(named)}")
    both = sorted(set(imaging) & set(behavior))
    if both:
        raise InvalidArgumentError(f"{both} named both imaging and behavior")
    kinds: dict[str, Kind] = {}
    for name, store in named.items():
        derived = str((store.metadata.derived_from or {}).get("method", ""))
        miniscope = derived.startswith(_STITCH_METHOD) or NUM_BUFFERS in store.index_dataframe().columns
        imaged = name in imaging or (name not in behavior and miniscope)
        kinds[name] = "imaging" if imaged else "behavior"
    return kinds


def _session_info(session: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    """The session metadata, its keys checked (a YAML file's problems name the file)."""
    where = "session metadata"
    if session is None:
        return {}
    if isinstance(session, (str, os.PathLike)):
        where = os.fspath(session)
        try:
            loaded = yaml.safe_load(Path(session).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(f"{where}: not readable YAML ({exc})") from None
        session = loaded if loaded is not None else {}
    if not isinstance(session, Mapping):
        raise InvalidArgumentError(f"{where}: must be a mapping of NWB session fields")
    unknown = sorted(set(session) - _SESSION_KEYS)
    if unknown:
        raise InvalidArgumentError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_SESSION_KEYS)}")
    for key in ("subject", "device", "imaging_plane"):
        if key in session and not isinstance(session[key], Mapping):
            raise InvalidArgumentError(f"{where}: {key} must be a mapping")
    return dict(session)


def _session_start(named: Mapping[str, StoreReader]) -> datetime.datetime:
    """The earliest first frame time, in its store's time zone, to the microsecond (so
    the timestamps measured from it survive the file's ISO 8601 text exactly)."""
    starts = {n: s.frame_time_min for n, s in named.items() if len(s)}
    if not starts:
        raise InvalidArgumentError(f"the stores {list(named)} hold no frames")
    first = min(starts, key=lambda n: float(starts[n] or 0.0))
    seconds = math.floor(float(starts[first] or 0.0) * 1e6) / 1e6
    return datetime.datetime.fromtimestamp(seconds, tz=named[first].timezone)


def _new_file(
    pynwb: Any, named: Mapping[str, StoreReader], info: Mapping[str, Any], t0: datetime.datetime
) -> NWBFile:
    fields = {k: info[k] for k in _SESSION_FIELDS if k in info}
    fields.setdefault("session_description", f"framestore recordings {', '.join(named)}")
    fields.setdefault(
        "identifier",
        str(uuid.uuid5(uuid.NAMESPACE_URL, "framestore:" + ",".join(sorted(s.uuid for s in named.values())))),
    )
    if isinstance(fields.get("experimenter"), str):
        fields["experimenter"] = [fields["experimenter"]]
    nwb = pynwb.NWBFile(session_start_time=t0, **fields)
    if "subject" in info:
        nwb.subject = pynwb.file.Subject(**info["subject"])
    else:
        warnings.warn(
            "no subject in the session metadata: DANDI (and nwbinspector) need one; give "
            "session={'subject': {'subject_id': ..., 'species': ..., 'sex': ..., 'age': ...}}",
            StoreWarning,
            stacklevel=3,
        )
    return nwb


def _imaging_plane(nwb: NWBFile, info: Mapping[str, Any], store: StoreReader) -> ImagingPlane:
    from pynwb.ophys import OpticalChannel

    device = {
        "name": "miniscope",
        "description": "head-mounted one-photon microscope",
        **info.get("device", {}),
    }
    plane = dict(info.get("imaging_plane", {}))
    channel = {"name": "channel", "description": "emitted light", "emission_lambda": math.nan}
    channel.update(plane.pop("optical_channel", {}))
    fields = {
        "name": "imaging_plane",
        "description": "the miniscope's field of view",
        "indicator": "unknown",
        "location": "unknown",
        "excitation_lambda": math.nan,
        "imaging_rate": float(store.fps or 0.0) or math.nan,
        **plane,
    }
    return nwb.create_imaging_plane(
        optical_channel=OpticalChannel(**channel), device=nwb.create_device(**device), **fields
    )


def _imaging_series(
    name: str, store: StoreReader, times: np.ndarray, plane: ImagingPlane, advance: Callable[[int], None]
) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.data_utils import AbstractDataChunkIterator
    from pynwb.ophys import OnePhotonSeries

    AbstractDataChunkIterator.register(_FrameBuffers)  # hdmf writes it a buffer at a time
    frame_bytes = int(np.prod(store.image_shape)) * store.dtype.itemsize
    per_chunk = int(np.clip(_HDF5_CHUNK_BYTES // frame_bytes, 1, max(len(store), 1)))
    data = H5DataIO(
        _FrameBuffers(store, advance),
        chunks=(per_chunk, *store.image_shape),
        compression="gzip",
        compression_opts=_GZIP_LEVEL,
        shuffle=store.dtype.itemsize > 1,
    )
    return OnePhotonSeries(
        name=name,
        description=f"framestore store {store.path} ({store.format}, uuid {store.uuid})",
        data=data,
        imaging_plane=plane,
        unit="n.a.",
        timestamps=H5DataIO(times, compression="gzip"),
        comments=f"frame numbers and per-frame columns: processing/{MODULE}/{name}_frames",
    )


def _behavior_series(name: str, store: StoreReader, out: Path, times: np.ndarray) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb.image import ImageSeries

    files, starts = _external_files(store, out.parent)
    return ImageSeries(
        name=name,
        description=f"framestore store {store.path} ({store.format}, uuid {store.uuid}), "
        "its chunk files as they are",
        unit="n.a.",
        format="external",
        external_file=files,
        starting_frame=starts,
        timestamps=H5DataIO(times, compression="gzip"),
        dimension=[store.image_shape[1], store.image_shape[0]],
        comments=f"frame numbers and per-frame columns: processing/{MODULE}/{name}_frames",
    )


def _external_files(store: StoreReader, base: Path) -> tuple[list[str], list[int]]:
    """The video files holding ``store``'s frames, relative to ``base``, and the frame
    each starts at: its chunks (or the plain video file)."""
    bounds = store.chunk_starts
    starts = [int(a) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    root = base.resolve()
    files = [os.path.relpath(Path(str(store.file_of(a))).resolve(), root) for a in starts]
    return files, starts


def _check_exportable(
    named: Mapping[str, StoreReader], kinds: Mapping[str, Kind], copy_video: str | os.PathLike[str] | None
) -> None:
    """Refuse, before anything is written, a store that cannot be exported as asked."""
    for name, store in named.items():
        if kinds[name] == "imaging":
            if len(store.image_shape) != 2:
                raise InvalidArgumentError(
                    f"{store.path}: imaging data must be gray frames, these are {store.image_shape}; "
                    "export it as behavior video"
                )
        elif copy_video is None or _is_playable(store):  # referenced where it is
            if store.description.format.image is not None:
                raise InvalidArgumentError(
                    f"{store.path}: its chunks are image files ({store.format}), not videos NWB can "
                    "reference; pass copy_video (--copy-video DIR) to write them as MP4 first"
                )
            if not isinstance(store.path, Path):
                raise InvalidArgumentError(
                    f"{store.path}: a store read by URL cannot be referenced from an NWB file"
                )
            if not store.is_complete:
                raise InvalidArgumentError(
                    f"{store.path}: unfinished; 'framestore recover' it before exporting"
                )


def _is_playable(store: StoreReader) -> bool:
    """Whether common players and DANDI take the store's chunk files as they are."""
    if isinstance(store.description.dialect, VideoFileDialect):
        return Path(str(store.path)).suffix.lower() in (".mp4", ".avi", ".mkv", ".mov")
    return store.format in PLAYABLE_FORMATS


def _playable(
    name: str, store: StoreReader, copy_video: str | os.PathLike[str] | None, stack: contextlib.ExitStack
) -> StoreReader:
    """``store``, or its copy in ``copy_video`` in H.264 MP4 when players do not take its
    chunks (and a copy was asked for)."""
    if _is_playable(store):
        return store
    if copy_video is None:
        if store.description.format.image is None:
            warnings.warn(
                f"{store.path}: its {store.format} chunks are referenced as they are, but common "
                "players and DANDI's viewer do not play them; --copy-video DIR writes H.264 MP4 copies",
                StoreWarning,
                stacklevel=3,
            )
        return store
    target = Path(copy_video) / name
    if not (target / "metadata.yaml").is_file():
        convert(str(store.path), target, COPY_FORMAT, chunksize=store.chunksize, workers=1)
    copy = stack.enter_context(StoreReader(target))
    if not np.array_equal(copy.frame_times, store.frame_times):
        raise InvalidArgumentError(
            f"{target}: holds other frames than {store.path}; remove it and export again"
        )
    return copy


def _frame_table(name: str, store: StoreReader, times: np.ndarray) -> Any:
    table = store.index_dataframe()
    table.insert(1, "timestamp", times)
    return _dynamic_table(
        f"{name}_frames",
        f"per frame of {name} (row = frame_index): its frame number, its timestamp in the series, "
        "its frame time as recorded and its per-frame columns",
        table,
    )


def _ascending(name: str, times: np.ndarray) -> np.ndarray:
    """``times``, each raised to the latest before it where they go backwards (NWB's
    timestamps ascend; a receiver's stalls can put a stitched frame's receive time before
    its predecessor's), with a warning; the frames table keeps the times as recorded."""
    ascending = np.maximum.accumulate(times) if len(times) else times
    changed = np.flatnonzero(ascending != times)
    if len(changed):
        warnings.warn(
            f"{name}: frame times go backwards at {len(changed)} frame(s) (first at frame_index "
            f"{changed[0]}, by up to {np.max(ascending - times):.6f} s); their NWB timestamps are "
            "the latest time before them, and the frames table keeps the recorded frame_time",
            StoreWarning,
            stacklevel=3,
        )
    return ascending


def _scores_table(name: str, store: StoreReader) -> Any:
    """A stitched store's scores (what each candidate scored, which was chosen and why)."""
    if not isinstance(store.path, Path) or not (store.path / SCORES_FILE).is_file():
        return None
    scores = pd.read_csv(store.path / SCORES_FILE, keep_default_na=False, na_values=[""])
    return _dynamic_table(
        f"{name}_stitch_scores",
        f"per frame of the stitched store {name}: the source chosen, why, and every candidate's scores "
        f"({SCORES_FILE})",
        scores,
    )


def _stores_table(named: Mapping[str, StoreReader], kinds: Mapping[str, Kind]) -> Any:
    rows = [
        {
            "store": name,
            "kind": kinds[name],
            "path": str(store.path),
            "uuid": store.uuid,
            "format": store.format,
            "timezone": str(store.timezone),
            "created_utc": str(store.created[0] or ""),
        }
        for name, store in named.items()
    ]
    return _dynamic_table("stores", "the framestore stores exported", pd.DataFrame(rows))


def _metadata_table(named: Mapping[str, StoreReader]) -> Any:
    """Every store's user metadata and ``derived_from``, one row per leaf value (nested
    keys joined by dots, values as JSON); None when no store has any."""
    rows = [
        {"store": name, "key": key, "value": value}
        for name, store in named.items()
        for top, tree in (("user", store.user_metadata), ("derived_from", store.metadata.derived_from or {}))
        for key, value in _leaves(top, tree)
    ]
    if not rows:
        return None
    return _dynamic_table(
        "store_metadata",
        "each store's user metadata (key user.*) and what it was derived from (key derived_from.*): "
        "one row per value, as JSON",
        pd.DataFrame(rows, columns=["store", "key", "value"]),
    )


def _leaves(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(f"{prefix}.{key}", item)
    elif isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value):
        for k, item in enumerate(value):
            yield from _leaves(f"{prefix}.{k}", item)
    else:
        yield prefix, json.dumps(value, default=str)


def _dynamic_table(name: str, description: str, table: pd.DataFrame) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.common import DynamicTable, VectorData

    columns = []
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            data: Any = H5DataIO(values.to_numpy(), compression="gzip")
        else:  # text (missing: empty)
            data = [str(v) for v in values.fillna("")]
        text = _COLUMN_TEXT.get(str(column), str(column))
        columns.append(VectorData(name=str(column), description=text, data=data))
    return DynamicTable(name=name, description=description, columns=columns, id=np.arange(len(table)))


def _write(pynwb: Any, nwb: NWBFile, out: Path) -> None:
    """Write ``nwb`` to ``out`` whole or not at all (a temporary name beside it, renamed)."""
    partial = out.with_name(f".{out.stem}.partial.nwb")
    try:
        with pynwb.NWBHDF5IO(str(partial), mode="w") as io:
            io.write(nwb)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


class _FrameBuffers:
    """A store's frames for hdmf's iterative write, a buffer of whole frames at a time,
    decoded in order (bounded memory): hdmf's ``AbstractDataChunkIterator`` contract,
    registered as one where pynwb is imported."""

    def __init__(self, store: StoreReader, advance: Callable[[int], None]) -> None:
        from hdmf.data_utils import DataChunk

        self._chunk = DataChunk
        self._store = store
        self._advance = advance
        frame_bytes = int(np.prod(store.image_shape)) * store.dtype.itemsize
        self._size = int(np.clip(_BUFFER_BYTES // frame_bytes, 1, max(store.chunksize, 1)))
        self._frames = store.iter_frames()
        self._next = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        n = len(self._store)
        if self._next >= n:
            raise StopIteration
        a, b = self._next, min(self._next + self._size, n)
        buffer = np.empty((b - a, *self._store.image_shape), self._store.dtype)
        for k in range(b - a):
            buffer[k] = next(self._frames)
        self._next = b
        self._advance(b - a)
        selection = (slice(a, b), *(slice(0, d) for d in self._store.image_shape))
        return self._chunk(data=buffer, selection=selection)

    def recommended_chunk_shape(self) -> None:
        return None

    def recommended_data_shape(self) -> tuple[int, ...]:
        return self.maxshape

    @property
    def dtype(self) -> np.dtype:
        return self._store.dtype

    @property
    def maxshape(self) -> tuple[int, ...]:
        return (len(self._store), *self._store.image_shape)
