"""Image helpers: PNG/JPEG dimensions, Telegram's photo sizes, and PNG bytes for tests."""

from __future__ import annotations


def image_size(content: bytes) -> tuple[int, int]:
    """(width, height) of PNG or JPEG bytes; ValueError if they are neither."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(content) < 33 or content[12:16] != b"IHDR" or b"IEND" not in content[-12:]:
            raise ValueError("truncated PNG")
        width = int.from_bytes(content[16:20], "big")
        height = int.from_bytes(content[20:24], "big")
        if width == 0 or height == 0:
            raise ValueError("empty PNG")
        return width, height
    if content.startswith(b"\xff\xd8\xff"):
        index = 2
        while index + 9 < len(content):
            if content[index] != 0xFF:
                raise ValueError("corrupt JPEG")
            marker = content[index + 1]
            if marker == 0xFF:  # padding
                index += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                index += 2
                continue
            length = int.from_bytes(content[index + 2 : index + 4], "big")
            if marker in (
                0xC0,
                0xC1,
                0xC2,
                0xC3,
                0xC5,
                0xC6,
                0xC7,
                0xC9,
                0xCA,
                0xCB,
                0xCD,
                0xCE,
                0xCF,
            ):
                height = int.from_bytes(content[index + 5 : index + 7], "big")
                width = int.from_bytes(content[index + 7 : index + 9], "big")
                if width == 0 or height == 0:
                    raise ValueError("empty JPEG")
                return width, height
            index += 2 + length
        raise ValueError("JPEG without a frame header")
    raise ValueError("not a PNG or JPEG image")


def photo_sizes(width: int, height: int) -> list[tuple[int | None, tuple[int, int]]]:
    """Telegram's thumbnails (s 90, m 320, x 800, y 1280, w 2560) up to the photo's size:
    [(side limit or None for the full size, (w, h))], smallest first."""
    sizes: list[tuple[int | None, tuple[int, int]]] = []
    longest = max(width, height)
    for side in (90, 320, 800, 1280, 2560):
        if longest <= side:
            sizes.append((None, (width, height)))
            return sizes
        scale = side / longest
        sizes.append((side, (max(1, round(width * scale)), max(1, round(height * scale)))))
    return sizes


def png_bytes(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (30, 144, 255)) -> bytes:
    """A minimal valid PNG (a plain colour), for tests."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
