"""Small, valid media payloads for the conformance fixture, generated with the standard library.

A 1x1 red PNG and a 10 ms silent WAV: real files any decoder accepts, built deterministically so
tests can decode them instead of trusting an opaque base64 literal.
"""

from __future__ import annotations

import base64
import io
import struct
import wave
import zlib

__all__ = ["PNG_BASE64", "PNG_BYTES", "WAV_BASE64", "WAV_BYTES", "png_pixel", "silent_wav"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_pixel(red: int = 255, green: int = 0, blue: int = 0) -> bytes:
    """A 1x1 RGB PNG of one colour."""
    header = struct.pack(
        ">IIBBBBB", 1, 1, 8, 2, 0, 0, 0
    )  # width, height, depth 8, RGB, deflate, no filter/interlace
    scanline = bytes([0, red, green, blue])  # filter byte 0, then one pixel
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(scanline, 9)),
            _png_chunk(b"IEND", b""),
        ]
    )


def silent_wav(milliseconds: int = 10, rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * (rate * milliseconds // 1000))
    return buffer.getvalue()


PNG_BYTES = png_pixel()
PNG_BASE64 = base64.b64encode(PNG_BYTES).decode("ascii")
WAV_BYTES = silent_wav()
WAV_BASE64 = base64.b64encode(WAV_BYTES).decode("ascii")
