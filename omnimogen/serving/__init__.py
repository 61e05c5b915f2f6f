"""Serving: the studio, a local web server and page to direct motion by conversation."""

from .app import Limits, create_app, serve

__all__ = ["Limits", "create_app", "serve"]
