"""The process-wide client follows the event loop it lives on."""

from __future__ import annotations

import asyncio

from meshctl.config import MeshSettings
from meshctl.mesh import ServiceMeshClient, close_service_mesh, get_service_mesh


def test_the_process_wide_client_is_made_anew_once_its_loop_has_closed(
    redis_url: str, key_prefix: str
):
    settings = MeshSettings(redis_url=redis_url, prefix=key_prefix)

    async def use() -> tuple[ServiceMeshClient, ServiceMeshClient]:
        first = await get_service_mesh(settings)
        again = await get_service_mesh(settings)
        health = await first.get_service_health("nothing-here")  # reads Redis on this loop
        assert health["total_endpoints"] == 0
        # Its sockets go with the loop; the client itself stays the process-wide one.
        await first.registry.aclose()
        return first, again

    first, again = asyncio.run(use())
    assert again is first  # one client per loop
    second, _ = asyncio.run(use())  # a second asyncio.run: the first loop is gone
    assert second is not first

    async def close() -> None:
        await close_service_mesh()
        assert await get_service_mesh(settings) is not second
        await close_service_mesh()

    asyncio.run(close())
