"""The spec interpreter: every layer type's inferred shape is its real shape; bad specs fail naming the layer."""

import json

import numpy as np
import pytest
import torch

from signalstack.models.config import TrainConfig
from signalstack.models.export import PARITY_TOLERANCE
from signalstack.models.pipeline import train_and_export
from signalstack.models.zoo import Spec, SpecError, build, create_model, get_entry, list_models, model_spec, summary
from signalstack.models.zoo.layers import LAYER_TYPES, make_layer
from signalstack.models.zoo.layers_recurrent import Recurrent

from ..support import SMALL

REC = {"type": "LSTM", "params": {"units": 3, "return_sequences": True}}

# (type, params, input shapes) for every layer type of the catalogue, some in several forms.
LAYER_CASES = [
    ("Dense", {"units": 4, "activation": "relu"}, [(6,)]),
    ("Dense", {"units": 4}, [(5, 6)]),
    ("Activation", {"activation": "hard_sigmoid"}, [(5, 6)]),
    ("Dropout", {"rate": 0.3}, [(5, 6)]),
    ("Flatten", {}, [(5, 6, 2)]),
    ("Reshape", {"target_shape": [3, -1]}, [(5, 6)]),
    ("Concatenate", {}, [(5, 2), (5, 3)]),
    ("Concatenate", {"axis": 1}, [(2, 4), (3, 4), (1, 4)]),
    ("Subtract", {}, [(4,), (4,)]),
    ("Add", {}, [(3, 4), (3, 4), (3, 4)]),
    ("BatchNormalization", {}, [(5, 6)]),
    ("BatchNormalization", {"axis": 1}, [(5, 6)]),
    ("Embedding", {"input_dim": 10, "output_dim": 3}, [(7,)]),
    ("SimpleRNN", {"units": 3, "activation": "relu"}, [(5, 4)]),
    ("LSTM", {"units": 3, "return_sequences": True}, [(5, 4)]),
    ("GRU", {"units": 3, "recurrent_dropout": 0.2}, [(5, 4)]),
    ("Bidirectional", {"layer": REC}, [(5, 4)]),
    ("Bidirectional", {"layer": {"type": "GRU", "params": {"units": 3}}, "merge_mode": "ave"}, [(5, 4)]),
    ("TimeDistributed", {"layer": REC}, [(2, 5, 4)]),
    ("TimeDistributed", {"layer": {"type": "Dense", "params": {"units": 2}}}, [(5, 4)]),
    ("Conv1D", {"filters": 3, "kernel_size": 3, "padding": "same", "strides": 2}, [(9, 2)]),
    ("Conv1D", {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, [(9, 2)]),
    ("Conv2D", {"filters": 3, "kernel_size": [3, 2], "strides": 2}, [(7, 6, 2)]),
    ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same", "strides": 2}, [(7, 6, 2)]),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "padding": "same"}, [(3, 4, 5, 2)]),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}, [(4, 5, 3)]),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, [(4, 5, 3)]),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 1, "strides": 3, "padding": "same"}, [(4, 5, 3)]),
    ("MaxPooling1D", {"pool_size": 4, "strides": 1, "padding": "same"}, [(9, 2)]),
    ("MaxPooling2D", {}, [(7, 6, 2)]),
    ("MaxPooling3D", {"padding": "same"}, [(3, 5, 4, 2)]),
    ("AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, [(8, 2)]),
    ("AveragePooling2D", {"pool_size": [2, 3]}, [(7, 6, 2)]),
    ("AveragePooling3D", {"padding": "same"}, [(3, 5, 4, 2)]),
    ("Cropping1D", {"cropping": [1, 2]}, [(9, 2)]),
    ("Cropping2D", {"cropping": [[1, 0], [0, 2]]}, [(7, 6, 2)]),
    ("Cropping3D", {"cropping": 1}, [(3, 5, 4, 2)]),
    ("UpSampling1D", {"size": 3}, [(4, 2)]),
    ("UpSampling2D", {"size": [2, 1]}, [(4, 3, 2)]),
    ("UpSampling3D", {}, [(2, 3, 2, 2)]),
    ("ZeroPadding1D", {"padding": [2, 1]}, [(4, 2)]),
    ("ZeroPadding2D", {"padding": [1, 2]}, [(4, 3, 2)]),
    ("ZeroPadding3D", {"padding": 1}, [(2, 3, 2, 2)]),
    ("GaussianNoise", {"stddev": 0.1}, [(5, 6)]),
    ("GaussianDropout", {"rate": 0.2}, [(5, 6)]),
    ("AlphaDropout", {"rate": 0.2}, [(5, 6)]),
    ("BinaryLogits", {}, [(1,)]),
    ("LocalResponseNormalization", {"depth_radius": 2, "bias": 2.0, "alpha": 1e-4, "beta": 0.75}, [(4, 3, 7)]),
]


def test_every_layer_type_has_a_shape_case():
    assert {case[0] for case in LAYER_CASES} == set(LAYER_TYPES)


@pytest.mark.parametrize(
    ("kind", "params", "shapes"), LAYER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)]
)
def test_inferred_shape_is_the_real_output_shape(kind, params, shapes):
    layer = make_layer(kind, shapes, params)
    expected = layer.output_shape(shapes)
    if kind == "Embedding":
        inputs = [torch.randint(0, 10, (3, *shapes[0])).float()]
    else:
        inputs = [torch.randn(3, *shape) for shape in shapes]
    for training in (True, False):
        layer.train(training)
        assert tuple(layer(*inputs).shape) == (3, *expected)


def spec(layers, inputs=(("x", [6]),), outputs=("out",)):
    return Spec.from_dict(
        {
            "inputs": [{"name": n, "shape": s} for n, s in inputs],
            "layers": layers,
            "outputs": [{"layer": o} for o in outputs],
        }
    )


def test_unknown_layer_type_is_named():
    bad = spec([{"name": "out", "type": "Dense2", "params": {"units": 2}, "inputs": ["x"]}])
    with pytest.raises(SpecError, match=r"layer 'out' \(Dense2\): unknown layer type 'Dense2'"):
        build(bad)


def test_shape_mismatch_is_named():
    bad = spec(
        [
            {"name": "a", "type": "Dense", "params": {"units": 4}, "inputs": ["x"]},
            {"name": "b", "type": "Dense", "params": {"units": 5}, "inputs": ["x"]},
            {"name": "out", "type": "Add", "inputs": ["a", "b"]},
        ]
    )
    with pytest.raises(SpecError, match=r"layer 'out' \(Add\): Add needs inputs of one shape, got \(4,\), \(5,\)"):
        build(bad)
    conv = spec([{"name": "out", "type": "Conv2D", "params": {"filters": 2, "kernel_size": 3}, "inputs": ["x"]}])
    with pytest.raises(SpecError, match=r"layer 'out' \(Conv2D\): Conv2D takes inputs of rank 3"):
        build(conv)


def test_cycle_is_named():
    bad = spec(
        [
            {"name": "a", "type": "Dense", "params": {"units": 6}, "inputs": ["x", "c"]},
            {"name": "c", "type": "Dense", "params": {"units": 6}, "inputs": ["a"]},
            {"name": "out", "type": "Dense", "params": {"units": 2}, "inputs": ["c"]},
        ]
    )
    with pytest.raises(SpecError, match=r"layer '(a|c)' is in a cycle: (a -> c -> a|c -> a -> c)"):
        build(bad)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [{"name": "out", "type": "Dense", "params": {"unit": 2}, "inputs": ["x"]}],
            r"layer 'out' \(Dense\): Dense: unknown parameter\(s\) \['unit'\]",
        ),
        (
            [{"name": "out", "type": "Dense", "params": {"units": 2}, "inputs": ["y"]}],
            r"layer 'out': input 'y' is neither a spec input nor a layer",
        ),
        (
            [
                {"name": "h", "type": "Dense", "params": {"units": 2}, "inputs": ["x"]},
                {"name": "out", "type": "Dense", "params": {"units": 2}, "inputs": ["x"]},
            ],
            r"layer 'h' feeds no output",
        ),
        (
            [{"name": "out", "type": "Dense", "params": {"units": 2, "activation": "softmax"}, "inputs": ["x"]}],
            r"layer 'out' is an output with loss crossentropy and ends in softmax",
        ),
        ([{"name": "out", "shares": "ghost", "inputs": ["x"]}], r"layer 'out' shares 'ghost', which is not a layer"),
    ],
)
def test_spec_errors_name_the_layer(layers, message):
    doc = spec(layers)
    if "softmax" in message:
        doc = Spec.from_dict({**doc.to_dict(), "outputs": [{"layer": "out", "loss": "crossentropy"}]})
    with pytest.raises(SpecError, match=message):
        build(doc)


def test_shared_layer_has_one_set_of_weights():
    net = build(
        spec(
            [
                {"name": "h", "type": "Dense", "params": {"units": 3}, "inputs": ["a"]},
                {"name": "h_b", "shares": "h", "inputs": ["b"]},
                {"name": "out", "type": "Subtract", "inputs": ["h", "h_b"]},
            ],
            inputs=(("a", [4]), ("b", [4])),
        )
    )
    assert list(net.layers) == ["h", "out"] and sum(p.numel() for p in net.parameters()) == 4 * 3 + 3
    x = torch.randn(5, 4)
    (same,) = net(x, x)
    assert torch.equal(same, torch.zeros_like(same))
    (diff,) = net(x, torch.randn(5, 4))
    diff.sum().backward()
    assert net.layers["h"].linear.weight.grad is not None


def test_shared_layer_called_with_an_incompatible_shape_is_named():
    bad = spec(
        [
            {"name": "h", "type": "Dense", "params": {"units": 3}, "inputs": ["a"]},
            {"name": "h_b", "shares": "h", "inputs": ["b"]},
            {"name": "out", "type": "Subtract", "inputs": ["h", "h_b"]},
        ],
        inputs=(("a", [4]), ("b", [5])),
    )
    with pytest.raises(SpecError, match=r"layer 'h_b' \(Dense, shares 'h'\): Dense built for a last axis of 4"):
        build(bad)


def test_residual_connection_adds_the_input_back():
    net = build(
        spec(
            [
                {"name": "f", "type": "Dense", "params": {"units": 6}, "inputs": ["x"]},
                {"name": "out", "type": "Add", "inputs": ["x", "f"]},
            ]
        )
    )
    torch.nn.init.zeros_(net.layers["f"].linear.weight)
    torch.nn.init.zeros_(net.layers["f"].linear.bias)
    x = torch.randn(2, 6)
    assert torch.equal(net(x)[0], x)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_stepwise_recurrence_uses_the_fused_layers_weights(kind):
    """The dropout training path unrolls the same weights: with masks of ones it equals the fused kernel."""
    layer = make_layer(kind, [(7, 3)], {"units": 4, "return_sequences": True, "recurrent_dropout": 0.5})
    x = torch.randn(5, 7, 3)
    fused, _ = layer.rnn(x)
    torch.testing.assert_close(layer.stepwise(x, torch.ones(5, 3), torch.ones(5, 4)), fused)


@pytest.mark.parametrize("kind", ["dropout", "recurrent_dropout"])
def test_recurrent_dropout_is_active_in_training_only(kind):
    layer: Recurrent = make_layer("LSTM", [(7, 3)], {"units": 4, kind: 0.5})
    x = torch.randn(8, 7, 3)
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    torch.testing.assert_close(layer(x), layer.rnn(x)[0][:, -1])


def test_cell_dropout_is_one_input_mask_per_sequence():
    """Keras' `LSTM(dropout=...)`: each sequence's step inputs share one mask; the recurrent state is untouched."""
    layer: Recurrent = make_layer("LSTM", [(7, 3)], {"units": 4, "dropout": 0.3, "return_sequences": True})
    x = torch.randn(8, 7, 3)
    torch.manual_seed(1)
    mask = layer._mask(x, 3, 0.3)
    torch.manual_seed(1)
    torch.testing.assert_close(layer.train()(x), layer.stepwise(x, mask, None))
    torch.testing.assert_close(mask.unique(), torch.tensor([0.0, 1 / 0.7]))  # dropped, or scaled by 1 / (1 - rate)


def test_binary_logits_give_the_sigmoid_unit_as_two_class_probabilities():
    """softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)], and cross-entropy on it is binary cross-entropy on z."""
    layer = make_layer("BinaryLogits", [(1,)], {})
    z, y = torch.randn(6, 1), torch.tensor([0, 1, 1, 0, 1, 0])
    two = layer(z)
    torch.testing.assert_close(torch.softmax(two, dim=-1), torch.cat((1 - torch.sigmoid(z), torch.sigmoid(z)), 1))
    torch.testing.assert_close(
        torch.nn.functional.cross_entropy(two, y),
        torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], y.float()),
    )
    with pytest.raises(ValueError, match=r"BinaryLogits takes one logit per sample, shape \(1,\), got shape \(2,\)"):
        make_layer("BinaryLogits", [(2,)], {})


def test_local_response_normalization_is_tensorflows():
    """x / (bias + alpha * sum of x^2 over channels c - r .. c + r) ** beta, channels last."""
    layer = make_layer(
        "LocalResponseNormalization", [(2, 3, 7)], {"depth_radius": 2, "bias": 2.0, "alpha": 0.1, "beta": 0.75}
    )
    x = torch.randn(4, 2, 3, 7)
    squares = torch.stack([(x[..., max(c - 2, 0) : c + 3] ** 2).sum(-1) for c in range(7)], dim=-1)
    torch.testing.assert_close(layer(x), x / (2.0 + 0.1 * squares) ** 0.75)


def test_keras_parameter_counts():
    counts = {kind: make_layer(kind, [(60, 30)], {"units": 50}) for kind in ("SimpleRNN", "LSTM", "GRU")}
    assert counts["LSTM"].keras_params() == 4 * (50 * (30 + 50) + 50)
    assert counts["SimpleRNN"].keras_params() == 50 * (30 + 50) + 50
    assert counts["GRU"].keras_params() == 3 * (50 * (30 + 50) + 2 * 50)  # reset_after=True
    assert make_layer("BatchNormalization", [(60, 30)], {}).keras_params() == 4 * 30


def test_summary_is_a_keras_style_table():
    text = summary("lstm")
    assert text.splitlines()[1].split() == [
        "Layer",
        "(type)",
        "Output",
        "shape",
        "Param",
        "#",
        "Keras",
        "#",
        "Connected",
        "to",
    ]
    assert "features (Input)" in text and "(None, 60, 30)" in text and "rnn_2 (LSTM)" in text
    assert "Total params: 37,213 (torch)   37,073 (Keras-equivalent)" in text
    assert "torch keeps two bias vectors" in text
    shared = summary("rank")
    assert "score_b (Dense, shares score)" in shared and "Notes" not in shared
    assert "TimeDistributed(LSTM)" in summary("hier_lstm")


def test_summary_takes_a_spec_file_and_a_built_net(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(
        json.dumps(spec([{"name": "out", "type": "Dense", "params": {"units": 2}, "inputs": ["x"]}]).to_dict())
    )
    assert "out (Dense)" in summary(path)
    assert summary(create_model("mlp", {"features": (4,)}, 2)) == summary("mlp", {"features": (4,)}, 2)
    with pytest.raises(TypeError, match="expected a net built from a spec"):
        summary(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("name", list_models())
def test_named_specs_round_trip_through_their_documents(name):
    entry = get_entry(name)
    doc = model_spec(name, entry.inputs, entry.n_outputs)
    assert Spec.from_dict(json.loads(json.dumps(doc.to_dict()))) == doc


YAML_NET = """
name: kitchen_sink
inputs:
  - {name: features, shape: [null, null]}
layers:
  - {name: noise, type: GaussianNoise, params: {stddev: 0.05}, inputs: features}
  - {name: gauss, type: GaussianDropout, params: {rate: 0.1}, inputs: noise}
  - {name: norm, type: BatchNormalization, inputs: gauss}
  # sequences
  - name: bi
    type: Bidirectional
    params: {layer: {type: SimpleRNN, params: {units: 3, return_sequences: true}}}
    inputs: norm
  - {name: per_step, type: TimeDistributed, params: {layer: {type: Dense, params: {units: 3}}}, inputs: bi}
  - {name: conv1, type: Conv1D, params: {filters: 4, kernel_size: 3, padding: same}, inputs: per_step}
  - {name: pad1, type: ZeroPadding1D, params: {padding: 1}, inputs: conv1}
  - {name: crop1, type: Cropping1D, params: {cropping: [1, 1]}, inputs: pad1}
  - {name: up1, type: UpSampling1D, params: {size: 2}, inputs: crop1}
  - {name: max1, type: MaxPooling1D, params: {pool_size: 2}, inputs: up1}
  - {name: avg1, type: AveragePooling1D, params: {pool_size: 3, strides: 1, padding: same}, inputs: max1}
  - {name: flat1, type: Flatten, inputs: avg1}
  - {name: seq_out, type: Dense, params: {units: 4}, inputs: flat1}
  - {name: flat0, type: Flatten, inputs: norm}
  - {name: base, type: Dense, params: {units: 4}, inputs: flat0}
  # images
  - {name: image, type: Reshape, params: {target_shape: [8, 3, 1]}, inputs: norm}
  - {name: conv2, type: Conv2D, params: {filters: 2, kernel_size: 3, padding: same, activation: relu}, inputs: image}
  - {name: pad2, type: ZeroPadding2D, params: {padding: 1}, inputs: conv2}
  - {name: crop2, type: Cropping2D, params: {cropping: 1}, inputs: pad2}
  - {name: up2, type: UpSampling2D, params: {size: [1, 2]}, inputs: crop2}
  - {name: max2, type: MaxPooling2D, params: {pool_size: 2, padding: same}, inputs: up2}
  - {name: avg2, type: AveragePooling2D, params: {pool_size: 2, strides: 1, padding: same}, inputs: max2}
  - {name: deconv, type: Conv2DTranspose, params: {filters: 2, kernel_size: 3, strides: 2, padding: same}, inputs: avg2}
  - {name: flat2, type: Flatten, inputs: deconv}
  - {name: img_out, type: Dense, params: {units: 4}, inputs: flat2}
  # volumes
  - {name: volume, type: Reshape, params: {target_shape: [2, 4, 3, 1]}, inputs: norm}
  - {name: conv3, type: Conv3D, params: {filters: 2, kernel_size: 2, padding: same}, inputs: volume}
  - {name: pad3, type: ZeroPadding3D, params: {padding: 1}, inputs: conv3}
  - {name: crop3, type: Cropping3D, params: {cropping: 1}, inputs: pad3}
  - {name: up3, type: UpSampling3D, params: {size: [2, 1, 1]}, inputs: crop3}
  - {name: max3, type: MaxPooling3D, params: {pool_size: 2, padding: same}, inputs: up3}
  - {name: avg3, type: AveragePooling3D, params: {pool_size: [2, 1, 1], padding: same}, inputs: max3}
  - {name: flat3, type: Flatten, inputs: avg3}
  - {name: vol_out, type: Dense, params: {units: 4}, inputs: flat3}
  # merges: a shared projection, a residual connection, a difference
  - {name: proj, type: Dense, params: {units: 4, activation: tanh}, inputs: base}
  - {name: proj_seq, shares: proj, inputs: seq_out}
  - {name: residual, type: Add, inputs: [base, proj]}
  - {name: diff, type: Subtract, inputs: [proj_seq, vol_out]}
  - {name: joined, type: Concatenate, inputs: [residual, diff, img_out]}
  - {name: act, type: Activation, params: {activation: selu}, inputs: joined}
  - {name: drop, type: Dropout, params: {rate: 0.1}, inputs: act}
  - {name: alpha, type: AlphaDropout, params: {rate: 0.1}, inputs: drop}
  - {name: head, type: Dense, params: {units: 2}, inputs: alpha}
outputs:
  - {layer: head}
"""


@pytest.mark.slow
def test_a_spec_file_trains_and_exports_through_the_pipeline(sp500, tmp_path):
    """`signalstack train --model net.yaml`: every layer family in one graph, parity with onnxruntime."""
    path = tmp_path / "net.yaml"
    path.write_text(YAML_NET)
    trained = train_and_export(
        sp500.iloc[:400],
        tmp_path / "net.onnx",
        architecture=path,
        features=SMALL,
        window=8,
        config=TrainConfig(epochs=1, progress=False),
    )
    assert trained.parity <= PARITY_TOLERANCE
    assert trained.card.spec["name"] == "kitchen_sink" and trained.card.architecture == str(path)
    assert trained.card.outputs[0].name == "probabilities" and trained.card.inputs[0].shape == (8, 3)
    assert np.isfinite(list(trained.card.metrics.values())).all()


def test_spec_file_sizes_must_agree_with_the_data(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(YAML_NET.replace("shape: [null, null]", "shape: [10, null]"))
    with pytest.raises(SpecError, match=r"input 'features': spec shape \[10, None\], data shape \(8, 3\)"):
        create_model(path, {"features": (8, 3)})
    with pytest.raises(ValueError, match="takes no parameters"):
        create_model(path, {"features": (10, 3)}, hidden=3)


def test_outputs_are_checked_against_the_labels_before_training(tiny_sets, tmp_path):
    from signalstack.models.train import train

    config = TrainConfig(epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"output 'probabilities' \(layer 'forecast'\): loss mae does not fit three"):
        train(tiny_sets["daily"], "lstm_regressor", config, hidden=(2,), dense=())
    path = tmp_path / "wide.yaml"
    path.write_text(
        "inputs: [{name: features, shape: [null, null]}]\n"
        "layers: [{name: flat, type: Flatten, inputs: features},"
        " {name: out, type: Dense, params: {units: 2}, inputs: flat}]\n"
        "outputs: [{layer: out}]\n"
    )
    with pytest.raises(
        ValueError,
        match=r"output 'probabilities' \(layer 'out'\) has shape \(2,\): "
        r"the three labels need \(3,\)",
    ):
        train(tiny_sets["daily"], path, config)


def test_an_input_declared_unscaled_reaches_the_net_raw(tiny_sets, tmp_path):
    from signalstack.models.train import train

    path = tmp_path / "raw.yaml"
    path.write_text(
        "inputs: [{name: features, shape: [null, null], scale: false}]\n"
        "layers: [{name: flat, type: Flatten, inputs: features},"
        " {name: out, type: Dense, params: {units: 3}, inputs: flat}]\n"
        "outputs: [{layer: out}]\n"
    )
    net = train(tiny_sets["daily"], path, TrainConfig(epochs=1, progress=False)).net
    assert net.scaled == (False,) and net.scaler("features") is None
