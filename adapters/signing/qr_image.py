"""QR images of code texts: error correction M, quiet zone 4, never above version 8 (DESIGN §5)."""
from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.exceptions import DataOverflowError
from qrcode.image.svg import SvgPathImage

MAX_VERSION = 8
# The code drawn in its colour, as people knew it: dark enough on white that scanners and
# zbar still read every module (contrast ≥ 3:1 against white; yellow is a deep amber).
COLORS = {"green": "#0b8a43", "yellow": "#b87f00", "red": "#c8202b"}


def qr_version(qr: str) -> int:
    """The smallest QR version that holds qr at error correction M."""
    return _fitted(qr).version


def render_png(qr: str, color: str | None = None) -> bytes:
    """qr as a PNG image (in the code's colour if given); ValueError above version 8."""
    out = io.BytesIO()
    _checked(qr).make_image(fill_color=COLORS.get(color or "", "black"), back_color="white").save(out, format="PNG")
    return out.getvalue()


def render_svg(qr: str, color: str | None = None) -> bytes:
    """qr as an SVG document (in the code's colour if given); ValueError above version 8."""
    image = _checked(qr).make_image(image_factory=SvgPathImage)
    svg: bytes = image.to_string(encoding="utf-8")
    if color in COLORS:  # the path's fill is the only colour in qrcode's SVG path image
        svg = svg.replace(b'fill="#000000"', f'fill="{COLORS[color]}"'.encode(), 1)
    return svg


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

    def png(self, qr: str, color: str | None = None) -> bytes:
        return render_png(qr, color)

    def svg(self, qr: str, color: str | None = None) -> bytes:
        return render_svg(qr, color)
