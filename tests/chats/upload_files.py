"""Files for the attachment tests, made with Pillow and zipfile (nothing binary is kept
in the repository)."""

from __future__ import annotations

import io
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (40, 30), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=0 if mode == "1" else (200, 40, 40)).save(buffer, image_format)
    return buffer.getvalue()


def png() -> bytes:
    return image_bytes("PNG")


def jpeg() -> bytes:
    return image_bytes("JPEG", (64, 48))


def truncated_jpeg() -> bytes:
    whole = image_bytes("JPEG", (400, 300))
    return whole[: len(whole) // 2]


def bomb_png() -> bytes:
    """A few KB of PNG that decodes to 400 million pixels (Pillow's own limit refuses)."""
    return image_bytes("PNG", (20_000, 20_000), mode="1")


def big_png(width: int, height: int) -> bytes:
    return image_bytes("PNG", (width, height), mode="1")


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return buffer.getvalue()


def uploaded(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)
