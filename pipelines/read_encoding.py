"""Which text encoding a partner file is in, and the UTF-8 copy DuckDB reads when it is not UTF-8.

UTF-8 (with or without BOM), UTF-16 with BOM (Excel "Unicode text") or without, cp1252, and UTF-8
with stray cp1252 bytes; Excel workbooks are recognised here and read by pipelines.workbook, and
other files with a .csv name (PDF, images, ZIP, gzip) are refused saying what they are.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import threading
from pathlib import Path

from pipelines import workbook
from pipelines.lines import CHUNK, LineScanner
from pipelines.problems import FileRejected, Problem


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BackgroundDigest:
    """sha256_file(path) on a thread of its own, for `result()` later.

    hashlib and file reads release the GIL, and a large file is staged alone while the sniff's
    own passes are Python on one core: the hash runs on the other, beside them.
    """

    def __init__(self, path: Path, hash_file=sha256_file):
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, hash_file), daemon=True,
                                        name="backbone-sha256")
        self._thread.start()

    def _run(self, path: Path, hash_file) -> None:
        try:
            self._digest = hash_file(path)
        except BaseException as exc:  # re-raised where the digest is asked for
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest


def _cp1252_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    # Bytes that are not UTF-8 in an otherwise UTF-8 file: text pasted from a Windows program.
    return error.object[error.start:error.end].decode("cp1252"), error.end


codecs.register_error("backbone-cp1252", _cp1252_fallback)
# What the partner sent -> (Python codec, error handler) that turns it into text.
CODECS = {"utf-16": ("utf-16", "strict"), "utf-16-le": ("utf-16-le", "strict"),
          "utf-16-be": ("utf-16-be", "strict"), "cp1252": ("cp1252", "strict"),
          "mac_roman": ("mac_roman", "strict"),
          "utf-8+cp1252": ("utf-8-sig", "backbone-cp1252")}
UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|"
                           rb"[\xf0-\xf4][\x80-\xbf]{3}")
# Files that are something else with a .csv name: say what they are, not just "binary".
SIGNATURES = (
    (b"%PDF", "a PDF document", "Export the data from the system that produced the PDF as CSV."),
    (b"\x89PNG", "a PNG image", "Send the data itself as a CSV file, not a picture of it."),
    (b"\xff\xd8\xff", "a JPEG image", "Send the data itself as a CSV file, not a picture of it."),
    (b"GIF8", "a GIF image", "Send the data itself as a CSV file, not a picture of it."),
    (b"\x1f\x8b", "a compressed (gzip) file", "Uncompress it and send the CSV file inside."),
)


# Encodings in which every ASCII byte is the character it names: a chunk of ASCII bytes (no
# partial character pending before it) decodes, checked at memchr speed instead of decoded.
_ASCII_SUPERSETS = ("utf-8", "utf-8-sig", "cp1252")


def _decodes_as(path: Path, encoding: str, errors: str = "strict", feed=None) -> bool:
    """`feed`, if given, receives each chunk that decoded: every chunk of the file when the
    answer is True."""
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    first = True
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                ascii_only = (encoding in _ASCII_SUPERSETS and not decoder.getstate()[0]
                              and (chunk.isascii() or first and encoding == "utf-8-sig"
                                   and chunk.startswith(codecs.BOM_UTF8) and chunk[3:].isascii()))
                if not ascii_only:
                    decoder.decode(chunk)
                if feed is not None:
                    feed(chunk)
                first = False
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# The bytes Windows-1252 leaves undefined: Python's strict cp1252 decoder refuses exactly these
# (tests/test_read_sniff.py checks all 256), so a file decodes as cp1252 if and only if it holds
# none of them, checked at memchr speed instead of decoded (a third of sniffing a cp1252 file).
CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)


def _decodes_as_cp1252(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if any(byte in chunk for byte in CP1252_UNDEFINED):
                return False
    return True


# Every UTF8_SEQUENCE starts with a lead byte (L) followed by a continuation byte (C): a chunk
# without "LC" after this byte-to-class translation (C speed) cannot match, so the regular
# expression (30x slower over a 100 MB Windows-1252 file) only runs on chunks that might.
_BYTE_CLASSES = bytes(ord("L") if 0xC2 <= b <= 0xF4 else ord("C") if 0x80 <= b <= 0xBF
                      else ord(".") for b in range(256))


def _has_utf8_sequences(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if b"LC" in chunk.translate(_BYTE_CLASSES) and UTF8_SEQUENCE.search(chunk):
                return True
    return False


def _first_unreadable_line(path: Path) -> int | None:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8", errors="backbone-cp1252")
            except UnicodeDecodeError:
                return number
    return None


def _transcode(path: Path, encoding: str, target: Path) -> Path:
    codec, errors = CODECS[encoding]
    target.parent.mkdir(parents=True, exist_ok=True)
    with path.open("r", encoding=codec, errors=errors, newline="") as src, \
            target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
    return target


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without a byte order mark: ASCII characters leave every other byte zero."""
    even, odd = head[0::2], head[1::2]
    if len(head) < 4:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


# Control bytes that text never holds (tab, line feed, form feed, carriage return and the DOS
# end-of-file mark aside); every binary format has many in its first bytes.
_BINARY_CONTROLS = bytes(b for b in range(1, 32) if b not in (9, 10, 12, 13, 26)) + b"\x7f"


def _refuse_unless_text_with_stray_nuls(head: bytes) -> None:
    """A file whose first bytes hold a NUL is binary (and refused, saying so) unless, NULs aside,
    it looks like text: no other control byte, and NULs at most one byte in eight (a wide
    encoding such as UTF-32 is half or more). NULs at the end (a file padded, or cut short by a
    crash) do not count. A text file's stray NULs are then set aside with their rows (or, alone
    on the last lines, read as blank lines) by pipelines.csv_rows."""
    body = head.rstrip(b"\x00")
    if not body:
        raise FileRejected(Problem(
            "empty_file", "The file holds only NUL bytes (zeros), no text: it was probably not "
            "saved completely. Please export it again."))
    controls = len(body) - len(body.translate(None, _BINARY_CONTROLS))
    if controls == 0 and body.count(0) * 8 <= len(body):
        return
    raise FileRejected(Problem(
        "binary_file", "This file contains binary data, not text. Please export the data as a "
        "CSV file (comma-separated text)." + (" (It holds many NUL characters, byte 0, which "
                                             "text does not have.)" if controls == 0 else "")))


def detect_encoding(path: Path, head: bytes, scanner: LineScanner | None = None) -> str:
    """The text encoding, or 'xlsx' / 'xls' for an Excel workbook (read by pipelines.workbook).

    `scanner` is fed the file's chunks by the UTF-8 check: when the answer is 'utf-8' or
    'utf-8-sig', it has seen the whole file, so the line scan needs no read of its own."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if (book := workbook.kind(path, head)) is not None:
        return book
    if head.startswith(b"PK\x03\x04"):
        kind = "a Word document" if b"word/" in head else "a ZIP archive (compressed files)"
        raise FileRejected(Problem("not_a_csv", f"This is {kind}, not a CSV file. Send the CSV "
                                   "file itself instead."))
    for magic, kind, advice in SIGNATURES:
        if head.startswith(magic):
            raise FileRejected(Problem("not_a_csv", f"This is {kind}, not a CSV file. {advice}"))
    if b"\x00" in head:
        utf16 = _utf16_without_bom(head)
        if utf16 and _decodes_as(path, utf16):
            return utf16
        _refuse_unless_text_with_stray_nuls(head)
    if _decodes_as(path, "utf-8-sig", feed=None if scanner is None else scanner.feed):
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    # Mostly UTF-8 with some Windows-1252 bytes (one row pasted from another program): decoding
    # it all as cp1252 would garble the UTF-8 text ("SÃ­"), so each part is read as what it is.
    if _has_utf8_sequences(path) and _decodes_as(path, "utf-8-sig", "backbone-cp1252"):
        return "utf-8+cp1252"
    # Excel for Mac's "CSV (Macintosh)" is Mac Roman with lines ended by CR alone, which no
    # Windows program writes: read as cp1252, its "Sí" would be "S’".
    if b"\r" in head and b"\n" not in head and _decodes_as(path, "mac_roman"):
        return "mac_roman"
    if _decodes_as_cp1252(path):
        return "cp1252"
    line = _first_unreadable_line(path)
    raise FileRejected(Problem(
        "unknown_encoding", "The text encoding of this file could not be recognised (it is neither "
        "UTF-8 nor Windows-1252)" + (f"; the first unreadable character is on line {line}"
                                     if line else "") + ". Please save it as 'CSV UTF-8'.",
        row=line))
