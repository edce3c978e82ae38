"""Multi-asset factor images for the Inception net, and a PNG of one image.

An image at bar t stacks, for each asset (a channel), its last `days` rows of technical
factors: (days, factors, assets), channels-last like Keras. The Inception post overlays an
index with others (HS300 with the SSE, CSI 500 and ChiNext indices); any aligned bar sets work.
Rows are the dates all assets share; the label reads the target asset's bars after t.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from signalstack.core.card import TensorInfo
from signalstack.core.errors import InvalidInput, SettingsError
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec
from signalstack.core.scaler import Scaler

from .windows import Dataset, WindowSet, known_rows, labels_at, make_dataset


def factor_images(
    assets: Mapping[str, pd.DataFrame],
    features: FeatureSpec,
    labels: LabelSpec,
    *,
    days: int = 56,
    target: str | None = None,
    shape: tuple[int, int] | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    embargo: int | None = None,
) -> Dataset:
    """Images (days, factors, assets), or reshaped to `shape` = (height, width) per channel, labelled on `target`.

    `target` defaults to the first asset. Each asset's factors are computed on its own full
    history (causal), then aligned on the dates all assets share; dates before every asset's
    warm-up is over are dropped. The scaler standardises each (factor, asset) pair.
    """
    if len(assets) < 1:
        raise ValueError("no assets: expected {name: bars} for one or more assets")
    target = target or next(iter(assets))
    if target not in assets:
        raise SettingsError(f"target {target!r}: expected one of {', '.join(assets)}")
    tables = {name: compute_features(bars, features).iloc[features.warmup :] for name, bars in assets.items()}
    common = tables[target].index
    for table in tables.values():
        common = common.intersection(table.index)
    if len(common) < days:
        raise InvalidInput(f"{len(common)} dates shared by {', '.join(assets)} after warm-up: expected >= days={days}")
    cube = np.stack([tables[name].loc[common].to_numpy(dtype="float32") for name in assets], axis=-1)
    x = np.lib.stride_tricks.sliding_window_view(cube, days, axis=0).transpose(0, 3, 1, 2)
    times = common[days - 1 :]
    y = labels_at(assets[target], labels, times)
    keep = known_rows(y) & known_rows(x)
    x = np.ascontiguousarray(x[keep])
    info = TensorInfo("images", x.shape[1:], columns=tuple(assets), origin="tensor")
    dataset = make_dataset(
        WindowSet(x, y[keep], times[keep]),
        features=features,
        labels=labels,
        window=days,
        inputs=[info],
        embargo=embargo,
        fractions=fractions,
        feature_axes={"images": 2},
    )
    if shape is None:
        return dataset
    if shape[0] * shape[1] != days * x.shape[2]:
        raise ValueError(f"shape {tuple(shape)}: expected height * width = {days} days * {x.shape[2]} factors")
    return _reshaped(dataset, (*shape, x.shape[3]))


def _reshaped(dataset: Dataset, image: tuple[int, ...]) -> Dataset:
    """The images reshaped, keeping the per-(factor, asset) scaler laid out at each value's new position."""
    grid = dataset.inputs[0].shape
    scaler = dataset.scaler

    def layout(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(values, grid).reshape(image))

    train, val, test = (
        WindowSet(p.x.reshape(len(p), *image), p.y, p.times) for p in (dataset.train, dataset.val, dataset.test)
    )
    return replace(
        dataset,
        train=train,
        val=val,
        test=test,
        scalers={"images": Scaler(layout(scaler.mean), layout(scaler.std))},
        inputs=(replace(dataset.inputs[0], shape=image),),
    )


def render_image(
    image: np.ndarray,
    path: str | Path,
    *,
    channels: Sequence[str] = (),
    factors: Sequence[str] = (),
    scaler: Scaler | None = None,
    title: str = "",
) -> Path:
    """Write one (height, width, channels) image as a PNG: a heat map per channel, side by side.

    With the dataset's `scaler`, the image is shown as the model sees it (factors on one scale).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if image.ndim != 3:
        raise ValueError(f"image of shape {image.shape}: expected (height, width, channels)")
    if scaler is not None:
        image = scaler.transform(image)
    n = image.shape[-1]
    names = list(channels) or [f"channel {i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} channel names for {n} channels")
    fig = Figure(figsize=(3.2 * n, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for k, ax in enumerate(axes):
        limit = float(np.abs(image[:, :, k]).max()) or 1.0
        shown = ax.imshow(
            image[:, :, k], aspect="auto", cmap="RdBu_r", interpolation="nearest", vmin=-limit, vmax=limit
        )
        ax.set_title(names[k])
        ax.set_ylabel("day (oldest at top)")
        if len(factors) == image.shape[1]:
            ax.set_xticks(range(len(factors)), labels=list(factors), rotation=90, fontsize=6)
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle(title or "factor image")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
