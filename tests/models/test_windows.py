import numpy as np
import pytest

from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec
from signalstack.models.windows import build_dataset, split_by_time

SPEC = FeatureSpec.default()


@pytest.fixture(scope="module")
def dataset(sp500):
    return build_dataset(sp500, SPEC, LabelSpec("binary", 5), window=30)


def test_windows_hold_feature_rows_ending_at_their_bar(sp500, dataset):
    table = compute_features(sp500, SPEC)
    i = 123
    t = dataset.train.times[i]
    end = table.index.get_loc(t)
    np.testing.assert_array_equal(dataset.train.x[i], table.iloc[end - 29 : end + 1].to_numpy("float32"))
    assert dataset.train.x.shape[1:] == (30, len(SPEC.columns))


def test_splits_are_time_ordered_with_an_embargo_of_the_horizon(sp500, dataset):
    positions = {
        name: sp500.index.get_indexer(part.times)
        for name, part in (("train", dataset.train), ("val", dataset.val), ("test", dataset.test))
    }
    assert positions["train"][-1] < positions["val"][0] < positions["val"][-1] < positions["test"][0]
    # The last training label reads bars up to t+5: none of them is in the validation period.
    assert positions["val"][0] - positions["train"][-1] > dataset.labels.horizon
    assert positions["test"][0] - positions["val"][-1] > dataset.labels.horizon


def test_scaler_is_fitted_on_training_rows_only(sp500, dataset):
    table = compute_features(sp500, SPEC)
    train_rows = table.loc[dataset.train.times].to_numpy()
    np.testing.assert_allclose(dataset.scaler.mean, train_rows.mean(axis=0), rtol=1e-5, atol=1e-7)
    everything = table.iloc[SPEC.warmup :].to_numpy()
    assert not np.allclose(dataset.scaler.mean, everything.mean(axis=0), rtol=1e-3, atol=0)


def test_split_errors_name_the_problem():
    with pytest.raises(ValueError, match="expected three positive numbers summing to 1"):
        split_by_time(100, (0.5, 0.5, 0.5), 1)
    with pytest.raises(ValueError, match="too few"):
        split_by_time(10, (0.7, 0.15, 0.15), 5)


def test_embargo_shorter_than_horizon_is_refused(sp500):
    with pytest.raises(ValueError, match="embargo 2: expected >= the label horizon 5"):
        build_dataset(sp500, SPEC, LabelSpec("binary", 5), window=30, embargo=2)
