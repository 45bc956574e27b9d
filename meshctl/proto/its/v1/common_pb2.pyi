import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VehicleClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VEHICLE_CLASS_UNSPECIFIED: _ClassVar[VehicleClass]
    VEHICLE_CLASS_CAR: _ClassVar[VehicleClass]
    VEHICLE_CLASS_TRUCK: _ClassVar[VehicleClass]
    VEHICLE_CLASS_BUS: _ClassVar[VehicleClass]
    VEHICLE_CLASS_MOTORCYCLE: _ClassVar[VehicleClass]
    VEHICLE_CLASS_BICYCLE: _ClassVar[VehicleClass]
    VEHICLE_CLASS_VAN: _ClassVar[VehicleClass]
    VEHICLE_CLASS_PEDESTRIAN: _ClassVar[VehicleClass]

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_NORTHBOUND: _ClassVar[Direction]
    DIRECTION_SOUTHBOUND: _ClassVar[Direction]
    DIRECTION_EASTBOUND: _ClassVar[Direction]
    DIRECTION_WESTBOUND: _ClassVar[Direction]

class SignalPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_PHASE_UNSPECIFIED: _ClassVar[SignalPhase]
    SIGNAL_PHASE_GREEN: _ClassVar[SignalPhase]
    SIGNAL_PHASE_YELLOW: _ClassVar[SignalPhase]
    SIGNAL_PHASE_RED: _ClassVar[SignalPhase]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_LOW: _ClassVar[Severity]
    SEVERITY_MEDIUM: _ClassVar[Severity]
    SEVERITY_HIGH: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class ViolationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIOLATION_TYPE_UNSPECIFIED: _ClassVar[ViolationType]
    VIOLATION_TYPE_SPEEDING: _ClassVar[ViolationType]
    VIOLATION_TYPE_RED_LIGHT: _ClassVar[ViolationType]
    VIOLATION_TYPE_WRONG_WAY: _ClassVar[ViolationType]
    VIOLATION_TYPE_ILLEGAL_TURN: _ClassVar[ViolationType]
    VIOLATION_TYPE_ILLEGAL_PARKING: _ClassVar[ViolationType]

class AnomalyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANOMALY_TYPE_UNSPECIFIED: _ClassVar[AnomalyType]
    ANOMALY_TYPE_HIGH_VOLUME: _ClassVar[AnomalyType]
    ANOMALY_TYPE_LOW_VOLUME: _ClassVar[AnomalyType]
    ANOMALY_TYPE_HIGH_SPEED: _ClassVar[AnomalyType]
    ANOMALY_TYPE_LOW_SPEED: _ClassVar[AnomalyType]
VEHICLE_CLASS_UNSPECIFIED: VehicleClass
VEHICLE_CLASS_CAR: VehicleClass
VEHICLE_CLASS_TRUCK: VehicleClass
VEHICLE_CLASS_BUS: VehicleClass
VEHICLE_CLASS_MOTORCYCLE: VehicleClass
VEHICLE_CLASS_BICYCLE: VehicleClass
VEHICLE_CLASS_VAN: VehicleClass
VEHICLE_CLASS_PEDESTRIAN: VehicleClass
DIRECTION_UNSPECIFIED: Direction
DIRECTION_NORTHBOUND: Direction
DIRECTION_SOUTHBOUND: Direction
DIRECTION_EASTBOUND: Direction
DIRECTION_WESTBOUND: Direction
SIGNAL_PHASE_UNSPECIFIED: SignalPhase
SIGNAL_PHASE_GREEN: SignalPhase
SIGNAL_PHASE_YELLOW: SignalPhase
SIGNAL_PHASE_RED: SignalPhase
SEVERITY_UNSPECIFIED: Severity
SEVERITY_LOW: Severity
SEVERITY_MEDIUM: Severity
SEVERITY_HIGH: Severity
SEVERITY_CRITICAL: Severity
VIOLATION_TYPE_UNSPECIFIED: ViolationType
VIOLATION_TYPE_SPEEDING: ViolationType
VIOLATION_TYPE_RED_LIGHT: ViolationType
VIOLATION_TYPE_WRONG_WAY: ViolationType
VIOLATION_TYPE_ILLEGAL_TURN: ViolationType
VIOLATION_TYPE_ILLEGAL_PARKING: ViolationType
ANOMALY_TYPE_UNSPECIFIED: AnomalyType
ANOMALY_TYPE_HIGH_VOLUME: AnomalyType
ANOMALY_TYPE_LOW_VOLUME: AnomalyType
ANOMALY_TYPE_HIGH_SPEED: AnomalyType
ANOMALY_TYPE_LOW_SPEED: AnomalyType

class TimeWindow(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    width: float
    height: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("track_id", "vehicle_class", "confidence", "bbox", "speed_kmh", "lane", "direction", "crossed_stop_line", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_CLASS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BBOX_FIELD_NUMBER: _ClassVar[int]
    SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    LANE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CROSSED_STOP_LINE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    track_id: str
    vehicle_class: VehicleClass
    confidence: float
    bbox: BoundingBox
    speed_kmh: float
    lane: int
    direction: Direction
    crossed_stop_line: bool
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, track_id: _Optional[str] = ..., vehicle_class: _Optional[_Union[VehicleClass, str]] = ..., confidence: _Optional[float] = ..., bbox: _Optional[_Union[BoundingBox, _Mapping]] = ..., speed_kmh: _Optional[float] = ..., lane: _Optional[int] = ..., direction: _Optional[_Union[Direction, str]] = ..., crossed_stop_line: _Optional[bool] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class LaneInfo(_message.Message):
    __slots__ = ("lane", "allowed_direction")
    LANE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_DIRECTION_FIELD_NUMBER: _ClassVar[int]
    lane: int
    allowed_direction: Direction
    def __init__(self, lane: _Optional[int] = ..., allowed_direction: _Optional[_Union[Direction, str]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("camera_id", "frame_id", "timestamp", "zone", "signal_phase", "lanes", "detections", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_PHASE_FIELD_NUMBER: _ClassVar[int]
    LANES_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    frame_id: str
    timestamp: _timestamp_pb2.Timestamp
    zone: str
    signal_phase: SignalPhase
    lanes: _containers.RepeatedCompositeFieldContainer[LaneInfo]
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, camera_id: _Optional[str] = ..., frame_id: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., zone: _Optional[str] = ..., signal_phase: _Optional[_Union[SignalPhase, str]] = ..., lanes: _Optional[_Iterable[_Union[LaneInfo, _Mapping]]] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProcessDetectionsRequest(_message.Message):
    __slots__ = ("frame",)
    FRAME_FIELD_NUMBER: _ClassVar[int]
    frame: Frame
    def __init__(self, frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

class TrafficMetrics(_message.Message):
    __slots__ = ("camera_id", "window", "frame_count", "vehicle_count", "counts_by_class", "average_speed_kmh", "occupancy")
    class CountsByClassEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BY_CLASS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    OCCUPANCY_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    window: TimeWindow
    frame_count: int
    vehicle_count: int
    counts_by_class: _containers.ScalarMap[str, int]
    average_speed_kmh: float
    occupancy: float
    def __init__(self, camera_id: _Optional[str] = ..., window: _Optional[_Union[TimeWindow, _Mapping]] = ..., frame_count: _Optional[int] = ..., vehicle_count: _Optional[int] = ..., counts_by_class: _Optional[_Mapping[str, int]] = ..., average_speed_kmh: _Optional[float] = ..., occupancy: _Optional[float] = ...) -> None: ...

class GetTrafficMetricsRequest(_message.Message):
    __slots__ = ("camera_id", "window", "window_seconds")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    window: TimeWindow
    window_seconds: int
    def __init__(self, camera_id: _Optional[str] = ..., window: _Optional[_Union[TimeWindow, _Mapping]] = ..., window_seconds: _Optional[int] = ...) -> None: ...

class GetTrafficMetricsResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[TrafficMetrics]
    def __init__(self, metrics: _Optional[_Iterable[_Union[TrafficMetrics, _Mapping]]] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("frame_id", "captured_at", "bbox", "measured_value", "limit_value", "description", "image_uri")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    BBOX_FIELD_NUMBER: _ClassVar[int]
    MEASURED_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URI_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    captured_at: _timestamp_pb2.Timestamp
    bbox: BoundingBox
    measured_value: float
    limit_value: float
    description: str
    image_uri: str
    def __init__(self, frame_id: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bbox: _Optional[_Union[BoundingBox, _Mapping]] = ..., measured_value: _Optional[float] = ..., limit_value: _Optional[float] = ..., description: _Optional[str] = ..., image_uri: _Optional[str] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("violation_id", "type", "severity", "camera_id", "track_id", "vehicle_class", "lane", "detected_at", "evidence", "resolved")
    VIOLATION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_CLASS_FIELD_NUMBER: _ClassVar[int]
    LANE_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    violation_id: str
    type: ViolationType
    severity: Severity
    camera_id: str
    track_id: str
    vehicle_class: VehicleClass
    lane: int
    detected_at: _timestamp_pb2.Timestamp
    evidence: Evidence
    resolved: bool
    def __init__(self, violation_id: _Optional[str] = ..., type: _Optional[_Union[ViolationType, str]] = ..., severity: _Optional[_Union[Severity, str]] = ..., camera_id: _Optional[str] = ..., track_id: _Optional[str] = ..., vehicle_class: _Optional[_Union[VehicleClass, str]] = ..., lane: _Optional[int] = ..., detected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence: _Optional[_Union[Evidence, _Mapping]] = ..., resolved: _Optional[bool] = ...) -> None: ...

class Anomaly(_message.Message):
    __slots__ = ("anomaly_id", "type", "severity", "camera_id", "metric", "observed", "baseline_mean", "baseline_stddev", "z_score", "window", "detected_at", "description")
    ANOMALY_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    BASELINE_MEAN_FIELD_NUMBER: _ClassVar[int]
    BASELINE_STDDEV_FIELD_NUMBER: _ClassVar[int]
    Z_SCORE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    anomaly_id: str
    type: AnomalyType
    severity: Severity
    camera_id: str
    metric: str
    observed: float
    baseline_mean: float
    baseline_stddev: float
    z_score: float
    window: TimeWindow
    detected_at: _timestamp_pb2.Timestamp
    description: str
    def __init__(self, anomaly_id: _Optional[str] = ..., type: _Optional[_Union[AnomalyType, str]] = ..., severity: _Optional[_Union[Severity, str]] = ..., camera_id: _Optional[str] = ..., metric: _Optional[str] = ..., observed: _Optional[float] = ..., baseline_mean: _Optional[float] = ..., baseline_stddev: _Optional[float] = ..., z_score: _Optional[float] = ..., window: _Optional[_Union[TimeWindow, _Mapping]] = ..., detected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...
