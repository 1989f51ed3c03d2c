"""The agency counter pages (``/counter``)."""

from yibao.web.counter.routes import router

__all__ = ["router"]
