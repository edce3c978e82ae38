from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers

DESCRIPTOR: _descriptor.FileDescriptor

class Bars(_message.Message):
    __slots__ = ("time", "open", "high", "low", "close", "volume")
    TIME_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    time: _containers.RepeatedScalarFieldContainer[int]
    open: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    low: _containers.RepeatedScalarFieldContainer[float]
    close: _containers.RepeatedScalarFieldContainer[float]
    volume: _containers.RepeatedScalarFieldContainer[float]
    def __init__(
        self,
        time: _Iterable[int] | None = ...,
        open: _Iterable[float] | None = ...,
        high: _Iterable[float] | None = ...,
        low: _Iterable[float] | None = ...,
        close: _Iterable[float] | None = ...,
        volume: _Iterable[float] | None = ...,
    ) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("name", "shape", "values", "columns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    columns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(
        self,
        name: str | None = ...,
        shape: _Iterable[int] | None = ...,
        values: _Iterable[float] | None = ...,
        columns: _Iterable[str] | None = ...,
    ) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("model", "version", "windows", "inputs")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    windows: _containers.RepeatedCompositeFieldContainer[Bars]
    inputs: _containers.RepeatedCompositeFieldContainer[Tensor]
    def __init__(
        self,
        model: str | None = ...,
        version: int | None = ...,
        windows: _Iterable[Bars | _Mapping] | None = ...,
        inputs: _Iterable[Tensor | _Mapping] | None = ...,
    ) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("probabilities",)
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    probabilities: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, probabilities: _Iterable[float] | None = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("model", "version", "columns", "predictions", "outputs")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    columns: _containers.RepeatedScalarFieldContainer[str]
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    outputs: _containers.RepeatedCompositeFieldContainer[Tensor]
    def __init__(
        self,
        model: str | None = ...,
        version: int | None = ...,
        columns: _Iterable[str] | None = ...,
        predictions: _Iterable[Prediction | _Mapping] | None = ...,
        outputs: _Iterable[Tensor | _Mapping] | None = ...,
    ) -> None: ...

class PredictSeriesRequest(_message.Message):
    __slots__ = ("model", "version", "bars", "inputs")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    bars: Bars
    inputs: _containers.RepeatedCompositeFieldContainer[Tensor]
    def __init__(
        self,
        model: str | None = ...,
        version: int | None = ...,
        bars: Bars | _Mapping | None = ...,
        inputs: _Iterable[Tensor | _Mapping] | None = ...,
    ) -> None: ...

class PredictSeriesResponse(_message.Message):
    __slots__ = ("model", "version", "columns", "first_index", "time", "probabilities", "outputs")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    columns: _containers.RepeatedScalarFieldContainer[str]
    first_index: int
    time: _containers.RepeatedScalarFieldContainer[int]
    probabilities: _containers.RepeatedScalarFieldContainer[float]
    outputs: _containers.RepeatedCompositeFieldContainer[Tensor]
    def __init__(
        self,
        model: str | None = ...,
        version: int | None = ...,
        columns: _Iterable[str] | None = ...,
        first_index: int | None = ...,
        time: _Iterable[int] | None = ...,
        probabilities: _Iterable[float] | None = ...,
        outputs: _Iterable[Tensor | _Mapping] | None = ...,
    ) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Iterable[ModelInfo | _Mapping] | None = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model", "version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    def __init__(self, model: str | None = ..., version: int | None = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = (
        "name",
        "version",
        "columns",
        "window",
        "warmup",
        "bars_required",
        "horizon",
        "provider",
        "card_json",
        "inputs",
        "outputs",
    )
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    BARS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CARD_JSON_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    columns: _containers.RepeatedScalarFieldContainer[str]
    window: int
    warmup: int
    bars_required: int
    horizon: int
    provider: str
    card_json: str
    inputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    def __init__(
        self,
        name: str | None = ...,
        version: int | None = ...,
        columns: _Iterable[str] | None = ...,
        window: int | None = ...,
        warmup: int | None = ...,
        bars_required: int | None = ...,
        horizon: int | None = ...,
        provider: str | None = ...,
        card_json: str | None = ...,
        inputs: _Iterable[TensorInfo | _Mapping] | None = ...,
        outputs: _Iterable[TensorInfo | _Mapping] | None = ...,
    ) -> None: ...

class TensorInfo(_message.Message):
    __slots__ = ("name", "shape", "columns", "origin")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    columns: _containers.RepeatedScalarFieldContainer[str]
    origin: str
    def __init__(
        self,
        name: str | None = ...,
        shape: _Iterable[int] | None = ...,
        columns: _Iterable[str] | None = ...,
        origin: str | None = ...,
    ) -> None: ...

class BarEvent(_message.Message):
    __slots__ = ("model", "version", "symbol", "time", "open", "high", "low", "close", "volume")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    symbol: str
    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    def __init__(
        self,
        model: str | None = ...,
        version: int | None = ...,
        symbol: str | None = ...,
        time: int | None = ...,
        open: float | None = ...,
        high: float | None = ...,
        low: float | None = ...,
        close: float | None = ...,
        volume: float | None = ...,
    ) -> None: ...

class Signal(_message.Message):
    __slots__ = ("symbol", "time", "model", "version", "bars_needed", "columns", "probabilities", "outputs")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BARS_NEEDED_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    time: int
    model: str
    version: int
    bars_needed: int
    columns: _containers.RepeatedScalarFieldContainer[str]
    probabilities: _containers.RepeatedScalarFieldContainer[float]
    outputs: _containers.RepeatedCompositeFieldContainer[Tensor]
    def __init__(
        self,
        symbol: str | None = ...,
        time: int | None = ...,
        model: str | None = ...,
        version: int | None = ...,
        bars_needed: int | None = ...,
        columns: _Iterable[str] | None = ...,
        probabilities: _Iterable[float] | None = ...,
        outputs: _Iterable[Tensor | _Mapping] | None = ...,
    ) -> None: ...
