import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from meshctl.proto.its.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalysisResult(_message.Message):
    __slots__ = ("frame_id", "camera_id", "vehicle_count", "average_speed_kmh", "violations", "anomalies", "correlation_id")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    camera_id: str
    vehicle_count: int
    average_speed_kmh: float
    violations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Violation]
    anomalies: _containers.RepeatedCompositeFieldContainer[_common_pb2.Anomaly]
    correlation_id: str
    def __init__(self, frame_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., vehicle_count: _Optional[int] = ..., average_speed_kmh: _Optional[float] = ..., violations: _Optional[_Iterable[_Union[_common_pb2.Violation, _Mapping]]] = ..., anomalies: _Optional[_Iterable[_Union[_common_pb2.Anomaly, _Mapping]]] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class GetActiveViolationsRequest(_message.Message):
    __slots__ = ("camera_id", "type", "min_severity", "limit")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MIN_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    type: _common_pb2.ViolationType
    min_severity: _common_pb2.Severity
    limit: int
    def __init__(self, camera_id: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.ViolationType, str]] = ..., min_severity: _Optional[_Union[_common_pb2.Severity, str]] = ..., limit: _Optional[int] = ...) -> None: ...

class GetActiveViolationsResponse(_message.Message):
    __slots__ = ("violations",)
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    violations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Violation]
    def __init__(self, violations: _Optional[_Iterable[_Union[_common_pb2.Violation, _Mapping]]] = ...) -> None: ...

class GetTrafficAnomaliesRequest(_message.Message):
    __slots__ = ("camera_id", "window", "min_severity", "limit")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    MIN_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    window: _common_pb2.TimeWindow
    min_severity: _common_pb2.Severity
    limit: int
    def __init__(self, camera_id: _Optional[str] = ..., window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ..., min_severity: _Optional[_Union[_common_pb2.Severity, str]] = ..., limit: _Optional[int] = ...) -> None: ...

class GetTrafficAnomaliesResponse(_message.Message):
    __slots__ = ("anomalies",)
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    anomalies: _containers.RepeatedCompositeFieldContainer[_common_pb2.Anomaly]
    def __init__(self, anomalies: _Optional[_Iterable[_Union[_common_pb2.Anomaly, _Mapping]]] = ...) -> None: ...

class GenerateReportRequest(_message.Message):
    __slots__ = ("camera_ids", "window")
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    window: _common_pb2.TimeWindow
    def __init__(self, camera_ids: _Optional[_Iterable[str]] = ..., window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ...) -> None: ...

class TrafficReport(_message.Message):
    __slots__ = ("report_id", "window", "camera_ids", "frame_count", "vehicle_count", "counts_by_class", "average_speed_kmh", "violations_by_type", "violations_by_severity", "anomaly_count", "anomalies", "generated_at")
    class CountsByClassEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ViolationsByTypeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ViolationsBySeverityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BY_CLASS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_BY_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    window: _common_pb2.TimeWindow
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    frame_count: int
    vehicle_count: int
    counts_by_class: _containers.ScalarMap[str, int]
    average_speed_kmh: float
    violations_by_type: _containers.ScalarMap[str, int]
    violations_by_severity: _containers.ScalarMap[str, int]
    anomaly_count: int
    anomalies: _containers.RepeatedCompositeFieldContainer[_common_pb2.Anomaly]
    generated_at: _timestamp_pb2.Timestamp
    def __init__(self, report_id: _Optional[str] = ..., window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ..., camera_ids: _Optional[_Iterable[str]] = ..., frame_count: _Optional[int] = ..., vehicle_count: _Optional[int] = ..., counts_by_class: _Optional[_Mapping[str, int]] = ..., average_speed_kmh: _Optional[float] = ..., violations_by_type: _Optional[_Mapping[str, int]] = ..., violations_by_severity: _Optional[_Mapping[str, int]] = ..., anomaly_count: _Optional[int] = ..., anomalies: _Optional[_Iterable[_Union[_common_pb2.Anomaly, _Mapping]]] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GenerateReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: TrafficReport
    def __init__(self, report: _Optional[_Union[TrafficReport, _Mapping]] = ...) -> None: ...
