from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers

DESCRIPTOR: _descriptor.FileDescriptor

class FeedBar(_message.Message):
    __slots__ = ("symbol", "time", "open", "high", "low", "close", "volume")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    def __init__(
        self,
        symbol: str | None = ...,
        time: int | None = ...,
        open: float | None = ...,
        high: float | None = ...,
        low: float | None = ...,
        close: float | None = ...,
        volume: float | None = ...,
    ) -> None: ...

class FeedAck(_message.Message):
    __slots__ = ("accepted", "duplicates", "rejected", "rejections")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    rejected: int
    rejections: _containers.RepeatedCompositeFieldContainer[FeedRejection]
    def __init__(
        self,
        accepted: int | None = ...,
        duplicates: int | None = ...,
        rejected: int | None = ...,
        rejections: _Iterable[FeedRejection | _Mapping] | None = ...,
    ) -> None: ...

class FeedRejection(_message.Message):
    __slots__ = ("index", "symbol", "time", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    symbol: str
    time: int
    reason: str
    def __init__(
        self, index: int | None = ..., symbol: str | None = ..., time: int | None = ..., reason: str | None = ...
    ) -> None: ...
