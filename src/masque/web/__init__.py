"""`masque serve`: a one-page local web app for people protecting their own photos (stdlib HTTP server)."""

from .server import ServeConfig, make_server

__all__ = ["ServeConfig", "make_server"]
