"""gRPC statuses become meshctl errors; whether a request may have been sent decides which."""

from __future__ import annotations

import grpc
import pytest

from meshctl.errors import ConnectionFailedError, ConnectionLostError
from meshctl.transport.grpc_client import translate_rpc_error


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("details", "kind"),
    [
        # the channel dropped before the send and could not reconnect: never sent
        ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
         "Failed to connect to remote host: Connection refused", ConnectionFailedError),
        # the connection broke with the request on it: it may have been acted on
        ("Socket closed", ConnectionLostError),
    ],
)  # fmt: skip
def test_unavailable_is_a_connect_failure_only_when_nothing_was_sent(details: str, kind: type):
    err = translate_rpc_error(
        rpc_error(grpc.StatusCode.UNAVAILABLE, details), "svc/M", "127.0.0.1:1", 1.0
    )
    assert type(err) is kind
    assert err.trips_breaker
