"""Jetstream's zstd-compressed events (``compress=true``): one zstd frame per binary message.

Jetstream compresses each event on its own with a custom dictionary published in its
repository (``pkg/models/zstd_dictionary``); tocsin ships a copy (``data/``, see its README for
the origin and licence) and accepts another file through the bluesky source's
`zstd_dictionary` option, in case Jetstream changes it. Decompression is bounded: an event
larger than the limit once decompressed is refused (a ``ValueError``, so the stream goes on).
"""

from __future__ import annotations

import functools
from pathlib import Path

import zstandard

__all__ = ["SHIPPED_DICTIONARY", "EventDecompressor", "load_dictionary"]

SHIPPED_DICTIONARY = Path(__file__).parent / "data" / "jetstream_zstd_dictionary"
_DICTIONARY_MAGIC = b"\x37\xa4\x30\xec"


@functools.cache
def load_dictionary(path: Path) -> zstandard.ZstdCompressionDict:
    """The zstd dictionary in `path` (read once per process); ValueError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"cannot read the Jetstream zstd dictionary {path} ({exc.strerror or exc}); download "
            "pkg/models/zstd_dictionary from github.com/bluesky-social/jetstream, or remove "
            "`zstd_dictionary` to use the copy shipped with tocsin"
        ) from exc
    if not data.startswith(_DICTIONARY_MAGIC):
        raise ValueError(
            f"{path} is not a zstd dictionary (no dictionary magic number); it should be "
            "Jetstream's pkg/models/zstd_dictionary"
        )
    dictionary = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
    try:
        dictionary.precompute_compress(level=1)  # checks the tables
    except zstandard.ZstdError as exc:
        raise ValueError(f"{path} is not a usable zstd dictionary ({exc})") from exc
    return dictionary


class EventDecompressor:
    """Decompresses Jetstream messages with its dictionary, at most `limit` bytes each."""

    def __init__(self, dictionary: zstandard.ZstdCompressionDict, limit: int) -> None:
        self._dctx = zstandard.ZstdDecompressor(dict_data=dictionary)
        self.limit = limit

    def decompress(self, frame: bytes) -> bytes:
        """The JSON text of one compressed event; ValueError when it is not one."""
        try:
            size = zstandard.frame_content_size(frame)
        except zstandard.ZstdError as exc:
            raise ValueError(f"the binary message is not a zstd frame ({exc})") from exc
        if size > self.limit:
            raise ValueError(f"the event is {size} bytes once decompressed, over {self.limit}")
        try:
            if size >= 0:
                return self._dctx.decompress(frame)
            return self._dctx.decompress(frame, max_output_size=self.limit)
        except zstandard.ZstdError as exc:
            raise ValueError(
                f"the zstd frame cannot be decompressed ({exc}); if Jetstream changed its "
                "dictionary, point `zstd_dictionary` at the new one"
            ) from exc
