"""QR images of code texts: error correction M, quiet zone 4, never above version 8 (DESIGN §5)."""
from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.exceptions import DataOverflowError
from qrcode.image.svg import SvgPathImage

MAX_VERSION = 8


def qr_version(qr: str) -> int:
    """The smallest QR version that holds qr at error correction M."""
    return _fitted(qr).version


def render_png(qr: str) -> bytes:
    """qr as a PNG image; ValueError if it needs a version above 8."""
    out = io.BytesIO()
    _checked(qr).make_image().save(out, format="PNG")
    return out.getvalue()


def render_svg(qr: str) -> bytes:
    """qr as an SVG document; ValueError if it needs a version above 8."""
    return _checked(qr).make_image(image_factory=SvgPathImage).to_string(encoding="utf-8")


def _fitted(qr: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(qr)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError):  # qrcode raises either past version 40
        raise ValueError("code does not fit any QR version") from None
    return code


def _checked(qr: str) -> qrcode.QRCode:
    code = _fitted(qr)
    if code.version > MAX_VERSION:
        raise ValueError(f"code needs QR version {code.version}, over {MAX_VERSION}: too big for a screen")
    return code


class QrImages:
    """QrRenderer: PNG and SVG images of code texts, at most version 8."""

    def png(self, qr: str) -> bytes:
        return render_png(qr)

    def svg(self, qr: str) -> bytes:
        return render_svg(qr)
