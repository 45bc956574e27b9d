from meshctl.proto.its.v1 import analytics_pb2 as _analytics_pb2
from meshctl.proto.its.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FrameStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_STATUS_UNSPECIFIED: _ClassVar[FrameStatus]
    FRAME_STATUS_QUEUED: _ClassVar[FrameStatus]
    FRAME_STATUS_FORWARDED: _ClassVar[FrameStatus]
FRAME_STATUS_UNSPECIFIED: FrameStatus
FRAME_STATUS_QUEUED: FrameStatus
FRAME_STATUS_FORWARDED: FrameStatus

class ProcessDetectionsResponse(_message.Message):
    __slots__ = ("frame_id", "status", "queue_depth", "analysis", "correlation_id", "error")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    status: FrameStatus
    queue_depth: int
    analysis: _analytics_pb2.AnalysisResult
    correlation_id: str
    error: str
    def __init__(self, frame_id: _Optional[str] = ..., status: _Optional[_Union[FrameStatus, str]] = ..., queue_depth: _Optional[int] = ..., analysis: _Optional[_Union[_analytics_pb2.AnalysisResult, _Mapping]] = ..., correlation_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class HealthCheckRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthCheckResponse(_message.Message):
    __slots__ = ("status", "queue_depth", "uptime_seconds", "frames_accepted", "frames_forwarded", "version")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FORWARDED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    status: str
    queue_depth: int
    uptime_seconds: float
    frames_accepted: int
    frames_forwarded: int
    version: str
    def __init__(self, status: _Optional[str] = ..., queue_depth: _Optional[int] = ..., uptime_seconds: _Optional[float] = ..., frames_accepted: _Optional[int] = ..., frames_forwarded: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...
