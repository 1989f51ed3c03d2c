"""The CJK TrueType font embedded (as a subset) in every PDF.

PDF viewers have no Chinese font they must provide, so the font travels inside the file.
ReportLab reads TrueType outlines only: OpenType/CFF fonts such as Noto Sans CJK do not
work. ``YIBAO_PDF_FONT`` names a font file; otherwise the usual Debian locations are tried.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from yibao.config import get_settings
from yibao.errors import YibaoError

FONT_PACKAGE = "fonts-wqy-microhei"

# Debian packages with TrueType CJK outlines: fonts-wqy-microhei, fonts-wqy-zenhei,
# fonts-arphic-uming, fonts-droid-fallback.
STANDARD_LOCATIONS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)


class FontMissing(YibaoError):
    """The server cannot render Chinese: an installation fault, not the caller's."""

    code = "pdf_font_missing"
    status_code = 503
    default_message = (
        f"服务器缺少中文字体，无法生成 PDF：请安装 Debian 软件包 {FONT_PACKAGE}"
        f"（apt-get install {FONT_PACKAGE}），或用 YIBAO_PDF_FONT 指定 TrueType 字体文件"
    )


def cjk_font() -> str:
    """The registered ReportLab font name to draw Chinese text with."""
    configured = get_settings().pdf_font
    return _registered(Path(configured) if configured else _first_standard_font())


def _first_standard_font() -> Path:
    for path in STANDARD_LOCATIONS:
        if path.is_file():
            return path
    raise FontMissing()


@lru_cache
def _registered(path: Path) -> str:
    """Register the font once per process; a distinct name per file, as the registry is global."""
    if not path.is_file():
        raise FontMissing(f"找不到 YIBAO_PDF_FONT 指定的字体文件 {path.name}；" + FontMissing.default_message)
    name = "yibao-cjk-" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    try:
        # subfontIndex picks the first face of a TrueType collection (.ttc); plain .ttf ignores it.
        pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
    except (TTFError, OSError) as error:
        raise FontMissing(f"字体文件 {path.name} 不是可用的 TrueType 字体；" + FontMissing.default_message) from error
    return name
