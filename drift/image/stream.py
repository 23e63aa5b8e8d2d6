"""Forward-only byte readers for walking a `docker save` stream and its layers.

A `docker save` stream arrives once, in order, and can be many gigabytes, so it
can neither be rewound nor held in memory. `ForwardReader` buffers one chunk at
a time, serves reads as slices of that chunk, lets callers hash file contents
without copying them (`feed`), and supports `seek` only forwards, which is all
a sequential tar walk needs (tarfile's seeking mode included).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator

CHUNK_SIZE = 1 << 20
"""How much a reader asks its source for at a time."""

Fill = Callable[[int], "bytes | memoryview"]
"""A source of bytes: called with a size hint, returns the next bytes (b"" at the end)."""

Sink = Callable[[memoryview], object]
"""Where `ForwardReader.feed` and the fetch hook deliver bytes (e.g. `hashlib` `update`)."""

_EMPTY = memoryview(b"")


class ForwardReader:
    """A read-only, forward-only file object over a `Fill` source.

    Every byte fetched from the source is passed once to `on_fetch` (when given)
    before anything else sees it, so a digest over the whole stream stays correct
    however the caller reads, skips or seeks.
    """

    __slots__ = ("_base", "_buf", "_fill", "_on_fetch", "_pos")

    def __init__(self, fill: Fill, on_fetch: Sink | None = None) -> None:
        self._fill = fill
        self._on_fetch = on_fetch
        self._buf = _EMPTY
        self._pos = 0  # read position inside _buf
        self._base = 0  # stream offset of _buf[0]

    @classmethod
    def over_chunks(cls, chunks: Iterable[bytes]) -> ForwardReader:
        """A reader over an iterable of byte chunks, such as docker-py's `get_image`."""
        iterator: Iterator[bytes] = iter(chunks)

        def fill(_size: int) -> bytes:
            # Skip empty chunks: an HTTP body can yield b"" before its end.
            for chunk in iterator:
                if chunk:
                    return chunk
            return b""

        return cls(fill)

    # -- file-object protocol used by tarfile and gzip ------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # False tells well-behaved consumers not to rely on rewinding.
        return False

    def tell(self) -> int:
        return self._base + self._pos

    def write(self, data: bytes) -> int:
        raise io.UnsupportedOperation("a docker save stream is read-only")

    def close(self) -> None:
        # The source belongs to the caller; nothing to release here.
        pass

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move forward to `offset`; moving backwards is an error."""
        if whence == io.SEEK_CUR:
            offset += self.tell()
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("cannot seek from the end of a stream")
        distance = offset - self.tell()
        if distance < 0:
            raise io.UnsupportedOperation("cannot seek backwards in a stream")
        self.feed(distance, None)
        return self.tell()

    def read(self, size: int | None = -1) -> bytes:
        """Return the next `size` bytes (fewer at the end of the stream)."""
        if size is None or size < 0:
            parts: list[bytes] = []
            self.feed(1 << 62, lambda view: parts.append(view.tobytes()))
            return b"".join(parts)
        end = self._pos + size
        if end <= len(self._buf):
            out = self._buf[self._pos : end].tobytes()
            self._pos = end
            return out
        parts = []
        self.feed(size, lambda view: parts.append(view.tobytes()))
        return b"".join(parts)

    # -- drift's own fast paths ----------------------------------------------

    def read1(self, size: int) -> memoryview:
        """Return up to `size` bytes without copying (empty only at the end)."""
        if self._pos >= len(self._buf) and not self._fetch():
            return _EMPTY
        end = min(self._pos + size, len(self._buf))
        view = self._buf[self._pos : end]
        self._pos = end
        return view

    def peek(self, size: int) -> bytes:
        """Return the next `size` bytes (fewer at the end) without consuming them."""
        while len(self._buf) - self._pos < size:
            if not self._fetch():
                break
        return self._buf[self._pos : self._pos + size].tobytes()

    def feed(self, size: int, sink: Sink | None) -> int:
        """Pass the next `size` bytes to `sink` (or drop them) without copying.

        Returns how many bytes were consumed: fewer than `size` only at the end.
        """
        left = size
        while left > 0:
            available = len(self._buf) - self._pos
            if available <= 0:
                if not self._fetch():
                    break
                continue
            take = available if available < left else left
            if sink is not None:
                sink(self._buf[self._pos : self._pos + take])
            self._pos += take
            left -= take
        return size - left

    def drain(self) -> int:
        """Consume the stream to its end; return how many bytes that took."""
        return self.feed(1 << 62, None)

    def _fetch(self) -> bool:
        data = self._fill(CHUNK_SIZE)
        if not data:
            return False
        view = memoryview(data)
        if self._on_fetch is not None:
            self._on_fetch(view)
        rest = self._buf[self._pos :]
        self._base += self._pos
        if rest:
            # Only `peek` across a chunk boundary gets here: a rare, small copy.
            self._buf = memoryview(rest.tobytes() + view.tobytes())
        else:
            self._buf = view
        self._pos = 0
        return True


class Region:
    """The next `size` bytes of a `ForwardReader`, as a source of its own (one tar member)."""

    __slots__ = ("_left", "_reader")

    def __init__(self, reader: ForwardReader, size: int) -> None:
        self._reader = reader
        self._left = size

    def fill(self, size: int) -> memoryview:
        """`Fill`-compatible: up to `size` bytes of the region, without copying."""
        if self._left <= 0:
            return _EMPTY
        view = self._reader.read1(min(size, self._left))
        self._left -= len(view)
        return view

    def skip_rest(self) -> None:
        """Consume what the caller did not read, so the enclosing tar stays in step."""
        self._left -= self._reader.feed(self._left, None)
