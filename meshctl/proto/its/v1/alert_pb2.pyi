import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from meshctl.proto.its.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_CHANNEL_UNSPECIFIED: _ClassVar[AlertChannel]
    ALERT_CHANNEL_EMAIL: _ClassVar[AlertChannel]
    ALERT_CHANNEL_SMS: _ClassVar[AlertChannel]
    ALERT_CHANNEL_WEBHOOK: _ClassVar[AlertChannel]

class DeliveryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATUS_UNSPECIFIED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_PENDING: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_SENT: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_FAILED: _ClassVar[DeliveryStatus]

class AlertStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATUS_UNSPECIFIED: _ClassVar[AlertStatus]
    ALERT_STATUS_OPEN: _ClassVar[AlertStatus]
    ALERT_STATUS_ACKNOWLEDGED: _ClassVar[AlertStatus]
    ALERT_STATUS_ESCALATED: _ClassVar[AlertStatus]
    ALERT_STATUS_RESOLVED: _ClassVar[AlertStatus]
ALERT_CHANNEL_UNSPECIFIED: AlertChannel
ALERT_CHANNEL_EMAIL: AlertChannel
ALERT_CHANNEL_SMS: AlertChannel
ALERT_CHANNEL_WEBHOOK: AlertChannel
DELIVERY_STATUS_UNSPECIFIED: DeliveryStatus
DELIVERY_STATUS_PENDING: DeliveryStatus
DELIVERY_STATUS_SENT: DeliveryStatus
DELIVERY_STATUS_FAILED: DeliveryStatus
ALERT_STATUS_UNSPECIFIED: AlertStatus
ALERT_STATUS_OPEN: AlertStatus
ALERT_STATUS_ACKNOWLEDGED: AlertStatus
ALERT_STATUS_ESCALATED: AlertStatus
ALERT_STATUS_RESOLVED: AlertStatus

class Recipient(_message.Message):
    __slots__ = ("channel", "address", "name")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    channel: AlertChannel
    address: str
    name: str
    def __init__(self, channel: _Optional[_Union[AlertChannel, str]] = ..., address: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("delivery_id", "channel", "recipient", "status", "attempts", "last_error", "last_attempt_at", "delivered_at")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    channel: AlertChannel
    recipient: str
    status: DeliveryStatus
    attempts: int
    last_error: str
    last_attempt_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    def __init__(self, delivery_id: _Optional[str] = ..., channel: _Optional[_Union[AlertChannel, str]] = ..., recipient: _Optional[str] = ..., status: _Optional[_Union[DeliveryStatus, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., last_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "severity", "status", "title", "message", "source", "source_id", "camera_id", "channels", "recipients", "deliveries", "created_at", "acknowledged_by", "acknowledged_at", "acknowledgement_note", "correlation_id", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGEMENT_NOTE_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    severity: _common_pb2.Severity
    status: AlertStatus
    title: str
    message: str
    source: str
    source_id: str
    camera_id: str
    channels: _containers.RepeatedScalarFieldContainer[AlertChannel]
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    created_at: _timestamp_pb2.Timestamp
    acknowledged_by: str
    acknowledged_at: _timestamp_pb2.Timestamp
    acknowledgement_note: str
    correlation_id: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, alert_id: _Optional[str] = ..., severity: _Optional[_Union[_common_pb2.Severity, str]] = ..., status: _Optional[_Union[AlertStatus, str]] = ..., title: _Optional[str] = ..., message: _Optional[str] = ..., source: _Optional[str] = ..., source_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[AlertChannel, str]]] = ..., recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ..., deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_by: _Optional[str] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledgement_note: _Optional[str] = ..., correlation_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProcessViolationAlertRequest(_message.Message):
    __slots__ = ("violation", "channels", "recipients")
    VIOLATION_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    violation: _common_pb2.Violation
    channels: _containers.RepeatedScalarFieldContainer[AlertChannel]
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    def __init__(self, violation: _Optional[_Union[_common_pb2.Violation, _Mapping]] = ..., channels: _Optional[_Iterable[_Union[AlertChannel, str]]] = ..., recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ...) -> None: ...

class ProcessAnomalyAlertRequest(_message.Message):
    __slots__ = ("anomaly", "channels", "recipients")
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    anomaly: _common_pb2.Anomaly
    channels: _containers.RepeatedScalarFieldContainer[AlertChannel]
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    def __init__(self, anomaly: _Optional[_Union[_common_pb2.Anomaly, _Mapping]] = ..., channels: _Optional[_Iterable[_Union[AlertChannel, str]]] = ..., recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ...) -> None: ...

class SendAlertRequest(_message.Message):
    __slots__ = ("severity", "title", "message", "camera_id", "channels", "recipients", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    severity: _common_pb2.Severity
    title: str
    message: str
    camera_id: str
    channels: _containers.RepeatedScalarFieldContainer[AlertChannel]
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, severity: _Optional[_Union[_common_pb2.Severity, str]] = ..., title: _Optional[str] = ..., message: _Optional[str] = ..., camera_id: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[AlertChannel, str]]] = ..., recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AlertResponse(_message.Message):
    __slots__ = ("alert", "deduplicated")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    deduplicated: bool
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class GetAlertStatisticsRequest(_message.Message):
    __slots__ = ("window", "camera_id")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    window: _common_pb2.TimeWindow
    camera_id: str
    def __init__(self, window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ..., camera_id: _Optional[str] = ...) -> None: ...

class ChannelStatistics(_message.Message):
    __slots__ = ("channel", "sent", "failed", "pending", "success_rate")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    channel: AlertChannel
    sent: int
    failed: int
    pending: int
    success_rate: float
    def __init__(self, channel: _Optional[_Union[AlertChannel, str]] = ..., sent: _Optional[int] = ..., failed: _Optional[int] = ..., pending: _Optional[int] = ..., success_rate: _Optional[float] = ...) -> None: ...

class GetAlertStatisticsResponse(_message.Message):
    __slots__ = ("total_alerts", "alerts_by_severity", "by_channel", "acknowledged", "unacknowledged", "failed_deliveries", "window")
    class AlertsBySeverityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TOTAL_ALERTS_FIELD_NUMBER: _ClassVar[int]
    ALERTS_BY_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    BY_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    UNACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    FAILED_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    total_alerts: int
    alerts_by_severity: _containers.ScalarMap[str, int]
    by_channel: _containers.RepeatedCompositeFieldContainer[ChannelStatistics]
    acknowledged: int
    unacknowledged: int
    failed_deliveries: int
    window: _common_pb2.TimeWindow
    def __init__(self, total_alerts: _Optional[int] = ..., alerts_by_severity: _Optional[_Mapping[str, int]] = ..., by_channel: _Optional[_Iterable[_Union[ChannelStatistics, _Mapping]]] = ..., acknowledged: _Optional[int] = ..., unacknowledged: _Optional[int] = ..., failed_deliveries: _Optional[int] = ..., window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ...) -> None: ...

class RetryFailedAlertsRequest(_message.Message):
    __slots__ = ("alert_id", "max_alerts")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_ALERTS_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    max_alerts: int
    def __init__(self, alert_id: _Optional[str] = ..., max_alerts: _Optional[int] = ...) -> None: ...

class RetryFailedAlertsResponse(_message.Message):
    __slots__ = ("retried", "succeeded", "still_failing", "alerts")
    RETRIED_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    STILL_FAILING_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    retried: int
    succeeded: int
    still_failing: int
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    def __init__(self, retried: _Optional[int] = ..., succeeded: _Optional[int] = ..., still_failing: _Optional[int] = ..., alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id", "acknowledged_by", "note")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    acknowledged_by: str
    note: str
    def __init__(self, alert_id: _Optional[str] = ..., acknowledged_by: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class GetAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("severities", "camera_id", "status", "window", "failed_only", "limit")
    SEVERITIES_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    FAILED_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    severities: _containers.RepeatedScalarFieldContainer[_common_pb2.Severity]
    camera_id: str
    status: AlertStatus
    window: _common_pb2.TimeWindow
    failed_only: bool
    limit: int
    def __init__(self, severities: _Optional[_Iterable[_Union[_common_pb2.Severity, str]]] = ..., camera_id: _Optional[str] = ..., status: _Optional[_Union[AlertStatus, str]] = ..., window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ..., failed_only: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "truncated")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    truncated: bool
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...
