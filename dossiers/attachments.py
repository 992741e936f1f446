"""The dossier's PDF/A-3 associated files: packed while they are written, embedded
after layout.

An export can be far larger than memory (a million query-log rows make more than a
gigabyte of CSV), so nothing here holds a whole file: `PackedFile` compresses and hashes
what is written to it in one pass, straight into the FlateDecode stream the PDF will
carry, and `embed_attachments` copies that stream into an incremental update of the
rendered PDF in chunks. The PDF itself (WeasyPrint's output) is never rewritten: the
update only appends the files, their file specifications, the catalog's `/AF` array and
the `/EmbeddedFiles` name tree, which keeps the document PDF/A-3b.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR

CHUNK = 1024 * 1024
# Level 1 deflates CSV about four times faster than the default level 6 for a file
# some 15% larger; an export of a million rows is worth the speed.
COMPRESSION_LEVEL = 1


@dataclass(frozen=True)
class Attachment:
    """A file to embed as an associated file; `path` holds its deflated bytes."""

    path: Path
    name: str
    media_type: str
    description: str
    relationship: str  # "Data" | "Source" | "Supplement"
    size: int  # of the file itself, before compression
    sha256: str


class PackedFile:
    """A write-only binary file that deflates what it is given to ``path`` and hashes
    the uncompressed bytes with SHA-256.

    Writes are gathered into blocks of about a megabyte first: COPY hands over one
    row at a time, and hashing and compressing a million small pieces one by one
    costs more than the work itself. (The PDF's optional MD5 /CheckSum is left out;
    the manifest's SHA-256 is the check that counts.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: BinaryIO = path.open("wb")
        self._deflate = zlib.compressobj(COMPRESSION_LEVEL)
        self._sha256 = hashlib.sha256()
        self._pending = bytearray()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._pending += data
        if len(self._pending) >= CHUNK:
            self._drain()
        return len(data)

    def _drain(self) -> None:
        block = bytes(self._pending)
        self._pending.clear()
        self._sha256.update(block)
        self.size += len(block)
        self._handle.write(self._deflate.compress(block))

    def close(self) -> None:
        if not self._handle.closed:
            self._drain()
            self._handle.write(self._deflate.flush())
            self._handle.close()

    def __enter__(self) -> PackedFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def attachment(
        self, name: str, media_type: str, description: str, relationship: str
    ) -> Attachment:
        self.close()
        return Attachment(
            path=self.path,
            name=name,
            media_type=media_type,
            description=description,
            relationship=relationship,
            size=self.size,
            sha256=self._sha256.hexdigest(),
        )


def pack_json(
    path: Path, data: Any, name: str, description: str, relationship: str
) -> Attachment:
    body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    with PackedFile(path) as packed:
        packed.write(body.encode("utf-8"))
    return packed.attachment(name, "application/json", description, relationship)


class _DeflatedFileStream(generic.StreamObject):
    """A stream whose FlateDecode-encoded body is copied from a file while the PDF is
    written, so the body never sits in memory."""

    def __init__(self, attachment: Attachment, created: datetime) -> None:
        super().__init__(
            {
                generic.NameObject("/Type"): generic.NameObject("/EmbeddedFile"),
                generic.NameObject("/Subtype"): generic.NameObject(
                    "/" + attachment.media_type
                ),
                generic.NameObject("/Filter"): generic.NameObject("/FlateDecode"),
                generic.NameObject("/Params"): generic.DictionaryObject(
                    {
                        generic.NameObject("/Size"): generic.NumberObject(
                            attachment.size
                        ),
                        generic.NameObject("/CreationDate"): generic.pdf_date(created),
                        generic.NameObject("/ModDate"): generic.pdf_date(created),
                    }
                ),
            }
        )
        self._source = attachment.path

    def write_to_stream(self, stream, handler=None, container_ref=None) -> None:
        self[generic.NameObject("/Length")] = generic.NumberObject(
            self._source.stat().st_size
        )
        generic.DictionaryObject.write_to_stream(self, stream, handler, container_ref)
        stream.write(b"\nstream\n")
        with self._source.open("rb") as source:
            while chunk := source.read(CHUNK):
                stream.write(chunk)
        stream.write(b"\nendstream")


def _file_spec(reference: generic.IndirectObject, attachment: Attachment):
    return generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Filespec"),
            generic.NameObject("/F"): generic.pdf_string(attachment.name),
            generic.NameObject("/UF"): generic.pdf_string(attachment.name),
            generic.NameObject("/Desc"): generic.pdf_string(attachment.description),
            generic.NameObject("/AFRelationship"): generic.NameObject(
                "/" + attachment.relationship
            ),
            generic.NameObject("/EF"): generic.DictionaryObject(
                {
                    generic.NameObject("/F"): reference,
                    generic.NameObject("/UF"): reference,
                }
            ),
        }
    )


def embed_attachments(
    source: Path, output: Path, attachments: list[Attachment], created: datetime
) -> None:
    """Write ``source`` plus an incremental update embedding ``attachments`` to
    ``output``. The source must not embed files already (WeasyPrint is given none)."""
    with source.open("rb") as original, output.open("wb") as target:
        writer = incremental_update(original)
        root = writer.root
        names = root.get("/Names")
        if names is None:
            names = generic.DictionaryObject()
            root[generic.NameObject("/Names")] = writer.add_object(names)
        else:
            writer.update_container(names)
        if "/EmbeddedFiles" in names:
            raise ValueError(f"{source.name} already embeds files")
        # A flat name tree, its keys in sorted order as the PDF specification asks.
        entries = generic.ArrayObject()
        af = generic.ArrayObject()
        for attachment in sorted(attachments, key=lambda a: a.name):
            stream_ref = writer.add_object(_DeflatedFileStream(attachment, created))
            spec_ref = writer.add_object(_file_spec(stream_ref, attachment))
            entries.extend([generic.pdf_string(attachment.name), spec_ref])
            af.append(spec_ref)
        names[generic.NameObject("/EmbeddedFiles")] = writer.add_object(
            generic.DictionaryObject({generic.NameObject("/Names"): entries})
        )
        root[generic.NameObject("/AF")] = writer.add_object(af)
        writer.update_root()
        writer.write(target)


def incremental_update(original: BinaryIO) -> IncrementalPdfFileWriter:
    """A pyHanko writer appending to ``original`` that keeps the document PDF/A.

    pyHanko rewrites the XMP producer as "pyHanko x.y" but appends to the Info entry
    ("WeasyPrint; pyHanko"); PDF/A requires the two to match, so both get the same.
    """
    writer = IncrementalPdfFileWriter(original)
    if "/Info" in writer.trailer:
        info = generic.DictionaryObject(writer.trailer["/Info"])
        info[generic.NameObject("/Producer")] = generic.TextStringObject(VENDOR)
        writer.set_info(info)
    return writer
