import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chats.validators import (
    validate_avatar,
    validate_colour,
    validate_encodable,
    value_has_nul,
)
from tests.chats.factories import ChatFactory


def image_bytes(image_format: str, size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "colour",
    [
        "#fff",
        "#FFFFFF",
        "#11223344",
        "rgba(26, 43, 60, 0.5)",
        "rgb(0,0,0)",
        "hsla(210, 40%, 17%, 0.5)",
        "hsl(360,100%,50%)",
    ],
)
def test_colour_accepts_hex_rgba_and_hsla(colour):
    validate_colour(colour)


@pytest.mark.parametrize(
    "colour",
    [
        "red",
        "#12",
        "#ggg",
        "rgba(256,0,0,1)",
        "rgb(1,2)",
        "hsla(10, 200%, 5%, 1)",
        "javascript:alert(1)",
        "#fff; background:url(x)",
        "",
    ],
)
def test_colour_refuses_anything_else_with_a_clear_message(colour):
    with pytest.raises(ValidationError) as error:
        validate_colour(colour)
    assert error.value.code == "invalid_colour"
    assert "HEX" in str(error.value.messages[0])


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_avatar_accepts_png_and_jpeg(image_format):
    validate_avatar(SimpleUploadedFile("a.img", image_bytes(image_format)))


def test_avatar_refuses_a_text_file_renamed_png():
    upload = SimpleUploadedFile("avatar.png", b"hello, I am text" * 10, content_type="image/png")
    with pytest.raises(ValidationError) as error:
        validate_avatar(upload)
    assert error.value.code == "avatar_not_image"


def test_avatar_refuses_a_six_megabyte_image():
    padding = b"\0" * (6 * 1024 * 1024)
    upload = SimpleUploadedFile("big.png", image_bytes("PNG") + padding)
    with pytest.raises(ValidationError) as error:
        validate_avatar(upload)
    assert error.value.code == "avatar_too_large"


def test_avatar_refuses_svg():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    with pytest.raises(ValidationError) as error:
        validate_avatar(SimpleUploadedFile("a.svg", svg, content_type="image/svg+xml"))
    assert error.value.code == "avatar_not_image"


def test_avatar_refuses_gif_even_named_jpg():
    with pytest.raises(ValidationError) as error:
        validate_avatar(SimpleUploadedFile("a.jpg", image_bytes("GIF")))
    assert error.value.code == "avatar_wrong_format"


@pytest.mark.django_db
def test_chat_full_clean_reports_every_bad_setting_and_saves_nothing():
    # given
    chat = ChatFactory.build(
        bot_color="blue",
        knowledge_base_url="not a url",
        bot_avatar=SimpleUploadedFile("x.png", b"not an image"),
    )
    # when
    with pytest.raises(ValidationError) as error:
        chat.full_clean()
    # then
    assert set(error.value.message_dict) >= {
        "bot_color",
        "knowledge_base_url",
        "bot_avatar",
    }
    assert chat.pk is None


# --- NUL (U+0000): valid JSON and Python text, but PostgreSQL stores none -------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", False),
        ("a\x00b", True),
        ("a\\u0000b", False),  # a backslash and "u0000" are text like any other
        ({"ok": ["fine", {"deep": "x\x00"}]}, True),
        ({"key\x00": "value"}, True),  # keys count too
        (("tuple", "\x00"), True),
        ({"number": 0, "none": None}, False),
    ],
)
def test_value_has_nul_walks_strings_and_keys(value, expected):
    assert value_has_nul(value) is expected


def test_validate_encodable_refuses_a_nul_anywhere_as_unencodable():
    with pytest.raises(ValidationError) as refusal:
        validate_encodable(["fine", [{"attachments": [{"name": "x\x00y"}]}]])
    assert refusal.value.code == "unencodable"
    assert "NUL character" in refusal.value.messages[0]
    validate_encodable(["fine", {"a": "b"}, "\N{GRINNING FACE}"])  # and nothing else
