"""The self-service kiosk pages (``/kiosk``)."""

from yibao.web.kiosk.routes import router

__all__ = ["router"]
