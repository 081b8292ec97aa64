"""One pass over one stored object: every manifest file in it checked as its bytes go by.

A stored object is either one file (offset None: the whole object) or a bundle of
many (each a slice at its ``bno``). For each slice: SHA-1 of the stored bytes against
``rck``, then the bytes decompressed (gzip, or none) with their length and SHA-1
against ``size`` and ``checksum``. Memory stays bounded: one chunk in flight, and
decompression output is drained in bounded pieces (a gzip bomb cannot inflate it).
Pure: chunks in, verdicts out.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from .catalog import SUPPORTED_COMPRESSION, StoredFile

_DRAIN = 1 << 20


@dataclass(frozen=True)
class FileVerdict:
    file: StoredFile
    ok: bool
    problem: str | None
    observed_rck: str | None


class _Slice:
    def __init__(self, file: StoredFile, compress: str):
        self.file = file
        self.stored = hashlib.sha1()  # noqa: S324 - pgBackRest records SHA-1
        self.original = hashlib.sha1()  # noqa: S324
        self.stored_len = 0
        self.original_len = 0
        self.inflate = zlib.decompressobj(31) if compress == "gz" else None
        self.problem: str | None = None

    def feed(self, data: bytes) -> None:
        self.stored.update(data)
        self.stored_len += len(data)
        if self.problem is not None:
            return
        if self.inflate is None:
            self._out(data)
            return
        try:
            out = self.inflate.decompress(data, _DRAIN)
            self._out(out)
            while self.inflate.unconsumed_tail:
                self._out(self.inflate.decompress(self.inflate.unconsumed_tail, _DRAIN))
        except zlib.error as exc:
            self.problem = f"gzip data error ({exc.args[0].split(':')[0] if exc.args else 'zlib'})"

    def _out(self, data: bytes) -> None:
        self.original.update(data)
        self.original_len += len(data)

    def verdict(self) -> FileVerdict:
        f = self.file
        rck = self.stored.hexdigest()
        if self.stored_len != f.repo_size:
            return FileVerdict(f, False, f"stored {self.stored_len} bytes, the manifest says "
                               f"{f.repo_size}", rck)
        if rck != f.rck:
            return FileVerdict(f, False, "sha1 of the stored bytes differs from the manifest's rck", rck)
        if self.problem is None and self.inflate is not None:
            try:
                self._out(self.inflate.flush())
            except zlib.error:
                self.problem = "gzip data error (truncated stream)"
            if self.problem is None and not self.inflate.eof:
                self.problem = "gzip stream does not end where the manifest says"
        if self.problem is not None:
            return FileVerdict(f, False, self.problem, rck)
        if self.original_len != f.size:
            return FileVerdict(f, False, f"decompressed to {self.original_len} bytes, the manifest says "
                               f"{f.size}", rck)
        if self.original.hexdigest() != f.checksum:
            return FileVerdict(f, False, "sha1 of the decompressed file differs from the manifest's checksum",
                               rck)
        return FileVerdict(f, True, None, rck)


def unsupported(compress: str) -> str | None:
    """Pure: why files of this compress type cannot be checked, or None."""
    if compress in SUPPORTED_COMPRESSION:
        return None
    return (f"compress-type {compress!r} is not supported by the verifier (supported: "
            f"{', '.join(SUPPORTED_COMPRESSION)}): set compress-type=gz or verify with pgbackrest")


def check_object(chunks: Iterable[bytes], files: list[StoredFile], compress: str) -> list[FileVerdict]:
    """Stream one object once; ``files`` are every manifest file stored in it (offset None: the whole)."""
    slices = sorted((_Slice(f, compress) for f in files), key=lambda s: s.file.offset or 0)
    pos = 0
    index = 0
    for chunk in chunks:
        start = 0
        while start < len(chunk) and index < len(slices):
            current = slices[index]
            begin = current.file.offset or 0
            end = begin + current.file.repo_size
            if current.file.offset is None:
                end = pos + len(chunk) + 1  # the whole object: everything belongs to it
            if pos + start < begin:          # bytes before this slice (another file's, unlisted)
                start = min(len(chunk), begin - pos)
                continue
            take = min(len(chunk), end - pos) - start
            if take > 0:
                current.feed(chunk[start:start + take])
                start += take
            if current.file.offset is not None and pos + start >= end:
                index += 1
        pos += len(chunk)
    return [s.verdict() for s in slices]
