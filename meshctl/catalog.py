"""The reference services by name: how to build each one and where it listens by default.

A top-level module (layer 4, beside ``services/``) so the services, the
tools and the command all read one catalog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshctl.services.base import ServiceBuilder

DEFAULT_PORTS: dict[str, int] = {
    "streaming": 50051,
    "analytics": 50052,
    "alert": 50053,
    "auth": 8000,
}
SERVICE_NAMES: tuple[str, ...] = tuple(DEFAULT_PORTS)


def builder(name: str) -> ServiceBuilder:
    """The ``build`` function of service ``name``; KeyError if there is no such service."""
    if name not in DEFAULT_PORTS:
        raise KeyError(name)
    module = importlib.import_module(f"meshctl.services.{name}")
    build: ServiceBuilder = module.build
    return build
