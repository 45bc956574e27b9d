"""The platform fixtures of the mesh tests, shared with the meshctl top tests."""

from tests.mesh.conftest import mesh, platform, webhook

__all__ = ["mesh", "platform", "webhook"]
