"""Every named architecture: built at the posts' shapes, trained briefly on tiny data, exported with
parity, and served by the real gRPC server (both protocols) with the numbers onnxruntime gives."""

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from signalstack.core.card import METADATA_KEY, ORIGINS, ModelCard
from signalstack.core.labels import LabelSpec
from signalstack.models.export import PARITY_TOLERANCE
from signalstack.models.pipeline import train_dataset_and_export
from signalstack.models.train import TrainConfig, predict
from signalstack.models.windows import build_dataset
from signalstack.models.zoo import create_model, get_entry, list_models, summary
from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as oip_grpc

from ..support import SMALL, free_port
from .conftest import minute_bars

# architecture -> (tiny dataset, tiny sizes)
CASES = {
    "mlp": ("binary", {"hidden": (8,)}),
    "rnn": ("daily", {"hidden": (4, 4)}),
    "lstm": ("daily", {"hidden": (4, 4)}),
    "gru": ("daily", {"hidden": (4, 4)}),
    "lstm_regressor": ("regression", {"hidden": (4, 4), "dense": (3,)}),
    "gru_regressor": ("regression", {"hidden": (4, 4), "dense": (3,)}),
    "lstm_regressor_seq": ("path", {"hidden": (4, 4)}),
    "hier_lstm": ("intraday", {"intraday": (3, 3), "daily": (3,)}),
    "cnn1d": ("one_day", {"filters": 2, "kernel": 3, "pool": 2}),
    "td_cnn_lstm": ("intraday", {"filters": 2, "kernel": 3, "pool": 2, "hidden": (4,)}),
    "inception": ("images", {"stem": (2, 2, 2), "modules": (1, 1), "filters": (2, 2, 2, 2, 2, 2), "final_pool": 2}),
    "rank": ("pairs", {"hidden": (4,)}),
    "dual_rnn": ("two_inputs", {"dense": (4,), "recurrent": (4,)}),
    "dual_lstm": ("two_inputs", {"dense": (4,), "recurrent": (4,)}),
    "multitask": ("multitask", {"hidden": (4, 3), "joined": (4,)}),
}

# The posts' output shapes at their default input shapes.
POST_OUTPUTS = {
    "mlp": [(2,)],
    "rnn": [(3,)],
    "lstm": [(3,)],
    "gru": [(3,)],
    "lstm_regressor": [(1,)],
    "gru_regressor": [(1,)],
    "lstm_regressor_seq": [(5,)],
    "hier_lstm": [(3,)],
    "cnn1d": [(3,)],
    "td_cnn_lstm": [(3,)],
    "inception": [(3,)],
    "rank": [(1,)],
    "dual_rnn": [(3,)],
    "dual_lstm": [(3,)],
    "multitask": [(3,), (1,)],
}


def test_every_registered_architecture_has_a_round_trip_case():
    assert set(CASES) == set(list_models()) == set(POST_OUTPUTS)


@pytest.mark.parametrize("name", sorted(POST_OUTPUTS))
def test_default_sizes_are_the_posts_and_shapes_are_inferred_right(name):
    entry = get_entry(name)
    net = create_model(name, entry.inputs, entry.n_outputs).eval()
    with torch.no_grad():
        outs = net(*(torch.randn(2, *shape) for shape in entry.inputs.values()))
    assert [tuple(o.shape[1:]) for o in outs] == POST_OUTPUTS[name]
    assert [net.shapes[n] for n in net.output_nodes] == POST_OUTPUTS[name]


def test_post_layer_sizes():
    def keras(name):
        return {row.split()[0]: row for row in summary(name).splitlines()}

    assert "(None, 60, 50)" in keras("rnn")["rnn_1"] and "(None, 50)" in keras("rnn")["rnn_2"]
    lstm = keras("lstm")
    assert "16,200" in lstm["rnn_1"]  # Keras' count for LSTM 50 on 30 features: 4 * (50 * 80 + 50)
    assert "(None, 10, 48, 8)" in keras("hier_lstm")["intraday_1"]
    cnn = keras("cnn1d")  # Example 9's shapes: (240, 5), (237, 5), (234, 5)
    assert "(None, 240, 5)" in cnn["conv_1"] and "(None, 237, 5)" in cnn["conv_2"]
    assert "(None, 234, 5)" in cnn["avg_pool"]
    assert "(None, 5, 256)" in keras("lstm_regressor")["rnn_2"]
    inception = keras("inception")  # GoogLeNet on 224 x 224: 28 x 28 at 3a, 7 x 7 x 1024 after 5b
    assert "(None, 28, 28, 256)" in inception["inception_3a"] and "(None, 7, 7, 1024)" in inception["avg_pool"]


@pytest.fixture(scope="module")
def zoo_sets(tiny_sets, sp500):
    """The tiny sets and up/down labels on the daily bars, for the posts' binary head (mlp)."""
    return {**tiny_sets, "binary": build_dataset(sp500.iloc[:400], SMALL, LabelSpec(), window=6)}


@pytest.fixture(scope="module")
def exported(zoo_sets, tmp_path_factory):
    """name -> TrainedModel: each architecture trained one epoch on its tiny set and exported, once."""
    done = {}

    def get(name):
        if name not in done:
            data, params = CASES[name]
            done[name] = train_dataset_and_export(
                zoo_sets[data],
                tmp_path_factory.mktemp(name) / f"{name}.onnx",
                architecture=name,
                params=params,
                config=TrainConfig(epochs=1, batch_size=32, progress=False),
            )
        return done[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_exports_and_matches_torch(name, exported):
    trained = exported(name)
    assert trained.parity <= PARITY_TOLERANCE
    session = ort.InferenceSession(str(trained.path), providers=["CPUExecutionProvider"])
    card = ModelCard.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert [i.name for i in session.get_inputs()] == [i.name for i in card.inputs]
    assert [o.name for o in session.get_outputs()] == [o.name for o in card.outputs]
    for info, inp in zip(card.inputs, session.get_inputs()):
        assert tuple(inp.shape[1:]) == info.shape and info.origin in ORIGINS
    assert card.spec["name"] == name and card.metrics


def test_two_input_model_serves_named_inputs_with_their_own_scalers(tiny_sets, exported):
    dataset = tiny_sets["two_inputs"]
    trained = exported("dual_rnn")
    card = trained.card
    fundamentals, features = card.inputs
    assert (fundamentals.name, fundamentals.origin, fundamentals.columns) == (
        "fundamentals",
        "tensor",
        ("factor_0", "factor_1", "factor_2", "factor_3"),
    )
    assert (features.name, features.origin, features.shape) == ("features", "bars", (6, 3))
    assert set(card.scalers) == {"fundamentals", "features"}
    session = ort.InferenceSession(str(trained.path), providers=["CPUExecutionProvider"])
    x = dataset.x_of(dataset.test)
    got = session.run(None, {"features": x["features"][:5], "fundamentals": x["fundamentals"][:5]})[0]
    np.testing.assert_allclose(got, predict(trained.result.net, x)[:5], atol=1e-5)
    # The scalers are in the graph: shifting raw fundamentals by their training mean changes outputs.
    shifted = session.run(
        None,
        {"features": x["features"][:5], "fundamentals": x["fundamentals"][:5] + dataset.scalers["fundamentals"].std},
    )[0]
    assert not np.allclose(shifted, got)


def test_multitask_exports_two_named_outputs_with_weighted_losses(tiny_sets, exported):
    trained = exported("multitask")
    heads = {h.name: (h.loss, h.weight) for h in trained.result.net.heads}
    assert heads == {"probabilities": ("crossentropy", 2.0), "forecast": ("mse", 1.0)}  # Example 8's losses
    card = trained.card
    assert [(o.name, o.shape, o.columns) for o in card.outputs] == [
        ("probabilities", (3,), ("down", "flat", "up")),
        ("forecast", (1,), ("forecast",)),
    ]
    assert set(card.targets) == {"probabilities", "forecast"} and card.label.kind == "three"
    assert {"probabilities.accuracy", "forecast.mae"} <= set(card.metrics)
    session = ort.InferenceSession(str(trained.path), providers=["CPUExecutionProvider"])
    probabilities, forecast = session.run(
        ["probabilities", "forecast"],
        {k: v[:4] for k, v in tiny_sets["multitask"].x_of(tiny_sets["multitask"].test).items()},
    )
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert forecast.shape == (4, 1)


def test_binary_mlp_keeps_the_posts_sigmoid_unit_and_serves_down_up_probabilities(zoo_sets, exported):
    """Example 1's Dense(1, sigmoid): one unit in the net, [1 - p, p] in the file, as the plugin reads it."""
    trained = exported("mlp")
    assert trained.result.net.body.shapes["head"] == (1,)
    assert [(o.name, o.shape, o.columns) for o in trained.card.outputs] == [("probabilities", (2,), ("down", "up"))]
    dataset = zoo_sets["binary"]
    x = dataset.x_of(dataset.test)["features"][:8]
    (probabilities,) = ort.InferenceSession(str(trained.path), providers=["CPUExecutionProvider"]).run(
        None, {"features": x}
    )
    with torch.no_grad():
        (logits,) = trained.result.net.logits(torch.as_tensor(x))  # [0, z]: z is the sigmoid unit's input
    p_up = torch.sigmoid(logits[:, 1]).numpy()
    np.testing.assert_allclose(probabilities, np.column_stack([1 - p_up, p_up]), atol=1e-6)


def test_rank_model_exports_the_scorer_alone(tiny_sets, exported):
    dataset = tiny_sets["pairs"]
    trained = exported("rank")
    session = ort.InferenceSession(str(trained.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["factors"]
    assert [o.name for o in session.get_outputs()] == ["score"]
    x = dataset.x_of(dataset.test)
    score_a = session.run(None, {"factors": x["stock_a"]})[0]
    score_b = session.run(None, {"factors": x["stock_b"]})[0]
    # The pair net is sigmoid(w (s_a - s_b) + c); the served score is w s + c, so higher is preferred.
    preference = predict(trained.result.net, x)
    bias = trained.result.net.body.layers["preference"].linear.bias.item()
    np.testing.assert_allclose(preference, 1 / (1 + np.exp(-(score_a - score_b + bias))), atol=1e-5)
    assert trained.card.label.kind == "pair" and {"accuracy", "roc_auc"} <= set(trained.card.metrics)
    assert json.loads(trained.card.to_json())["outputs"][0]["columns"] == ["score"]


def test_card_of_a_file_written_before_the_zoo_still_loads(tiny_model):
    props = {p.key: p.value for p in onnx.load(str(tiny_model)).metadata_props}
    doc = json.loads(props[METADATA_KEY])
    for key in ("targets", "spec"):
        doc.pop(key)
    for tensor in doc["inputs"] + doc["outputs"]:
        tensor.pop("columns"), tensor.pop("source")
    card = ModelCard.from_json(json.dumps(doc))
    assert card.inputs[0].origin == "bars" and card.outputs[0].origin == "" and card.spec == {}


@pytest.fixture(scope="module")
def zoo_server(tmp_path_factory):
    """(model folder, its repository, host:port) of a real server; tests copy models in and refresh."""
    from signalstack.server.app import SignalServer
    from signalstack.server.options import ServeOptions
    from signalstack.server.repository import ModelRepository

    folder = tmp_path_factory.mktemp("zoo_repository")
    repository = ModelRepository(folder)
    with SignalServer(ServeOptions(folder, port=free_port(), grace=0), repository) as server:
        yield folder, repository, server.address


def _request(name, local, dataset, bars, n=3):
    """Windows of raw bars (for a model's bars input) and tensors (the rest) for `n` test samples."""
    test = dataset.x_of(dataset.test)
    tensors = {i.name: test[i.name][:n] for i in local.tensor_inputs}
    windows = []
    if local.bars_input is not None:
        ends = bars.index[-n:] if name == "rank" else dataset.test.times[:n]
        # An intraday model reads whole days: it gets every minute bar up to the day's close.
        windows = [bars.loc[:t] if local.intraday else bars.loc[:t].iloc[-local.bars_required :] for t in ends]
    return windows, tensors


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_served_over_grpc_as_onnxruntime_runs_it(name, exported, zoo_server, zoo_sets, sp500):
    import grpc

    from signalstack.core.model import OnnxModel, join_outputs
    from signalstack.transport.client import SignalClient

    trained = exported(name)
    folder, repository, target = zoo_server
    shutil.copyfile(trained.path, folder / f"{name}.onnx")
    repository.refresh()
    local = OnnxModel(trained.path)
    dataset = zoo_sets[CASES[name][0]]
    minutes = minute_bars(days=30, per_day=24)  # the bars each tiny set was made from (see conftest)
    bars = {"pairs": sp500.iloc[:300], "intraday": minutes, "one_day": minutes}.get(CASES[name][0], sp500.iloc[:400])
    windows, tensors = _request(name, local, dataset, bars)
    with SignalClient(target) as client:
        info = client.get_model(name)
        got, columns = client.predict_outputs(name, windows, tensors=tensors)
    assert [(i.name, tuple(i.shape), i.origin) for i in info.inputs] == [
        (i.name, i.shape, i.origin) for i in local.inputs
    ]
    assert [o.name for o in info.outputs] == local.output_names and columns == local.columns
    np.testing.assert_allclose(got, local.predict_windows(windows, tensors), rtol=0, atol=1e-6)
    if windows and name != "rank":  # features the server made from bars are the ones training used
        x = dataset.x_of(dataset.test)
        trained_on = local.predict({**tensors, local.bars_input.name: x[local.bars_input.name][: len(windows)]})
        np.testing.assert_allclose(got, join_outputs(trained_on), rtol=0, atol=1e-5)

    graph_inputs = dict(tensors)
    if windows:
        graph_inputs[local.bars_input.name] = np.stack([local.featurizer.window(w) for w in windows])
    request = oip.ModelInferRequest(
        model_name=name,
        raw_input_contents=[np.ascontiguousarray(x, dtype="<f4").tobytes() for x in graph_inputs.values()],
    )
    for key, x in graph_inputs.items():
        request.inputs.add(name=key, datatype="FP32", shape=x.shape)
    with grpc.insecure_channel(target) as channel:
        response = oip_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert [o.name for o in response.outputs] == local.output_names
    inferred = {
        o.name: np.frombuffer(raw, "<f4").reshape(o.shape)
        for o, raw in zip(response.outputs, response.raw_output_contents)
    }
    np.testing.assert_allclose(join_outputs(inferred), got, rtol=0, atol=1e-6)


def test_triton_config_names_every_input_and_output_of_a_multi_tensor_model(exported):
    from signalstack.core.model import OnnxModel
    from signalstack.server.options import BatchPolicy
    from signalstack.server.triton import triton_config

    model = OnnxModel(exported("multitask").path, name="multitask")
    config = triton_config([model], BatchPolicy(64, 100))
    blocks = config.split("output [")
    assert 'name: "fundamentals"' in blocks[0] and 'name: "features"' in blocks[0]
    assert "dims: [ 4 ]" in blocks[0] and "dims: [ 6, 3 ]" in blocks[0]
    assert 'name: "probabilities"' in blocks[1] and "dims: [ 3 ]" in blocks[1]
    assert 'name: "forecast"' in blocks[1] and "dims: [ 1 ]" in blocks[1]
    assert "max_batch_size: 64" in config and "max_queue_delay_microseconds: 100" in config
