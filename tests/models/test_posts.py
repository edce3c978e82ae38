"""The named architectures' defaults are the reference posts' nets (shared/seeds/): each post's code, layer by
layer, and the parameter count Keras gives for it, as `signalstack summary NAME` prints it.

Post 000 is the Keras post with ten examples, 001 the Inception post, 004 the LSTM on the 0050 ETF.
Where a post's text and its code disagree, the code is the reference.
"""

import re

import pytest
import torch

from signalstack.models.zoo import create_model, get_entry, model_spec, summary


def keras_total(name: str) -> int:
    """The Keras-equivalent total that `summary(name)` prints at the post's input shapes."""
    line = next(row for row in summary(name).splitlines() if row.startswith("Total params:"))
    return int(re.search(r"([\d,]+) \(Keras-equivalent\)", line).group(1).replace(",", ""))


def layer(kind: str, params: dict) -> str:
    """`Type(param=value, ...)`, a wrapper as `Wrapper(Type(...))`, the way the posts' code reads."""
    if "layer" in params:
        return f"{kind}({layer(params['layer']['type'], params['layer'].get('params', {}))})"
    return f"{kind}({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})"


def layers(name: str) -> list[str]:
    """The default net's layers in order (a shared call as `shares:NODE`)."""
    entry = get_entry(name)
    spec = model_spec(name, entry.inputs, entry.n_outputs)
    return [f"shares:{node.shares}" if node.shares else layer(node.type, node.params) for node in spec.layers]


POST_COUNTS = [
    # Post 000, Example 1: dense1 60*(30+1) = 1860, dense2 60*(60+1) = 3660, output 1*(60+1) = 61: 5,581.
    ("mlp", 5_581),
    # Example 2: rnn1 (30+50+1)*50 = 4050, rnn2 (50+50+1)*50 = 5050, output 3*(50+1) = 153: 9,253.
    ("rnn", 9_253),
    # Example 3: the text counts 50-unit RNNs (4050, 5050, output 453); the code has SimpleRNN(60):
    # dense1 5100, dense2 10100, rnn1 (30+60+1)*60 = 5460, rnn2 (60+60+1)*60 = 7260, output (100+60+1)*3 = 483.
    ("dual_rnn", 28_403),
    # Example 4: BN_input 120, lstm1 16200, BN_lstm1 200, lstm2 20200, BN_lstm2 200, output 153: 37,073.
    ("lstm", 37_073),
    # Example 5 (the post leaves the count to Examples 3-4): BN 4*50 = 200, dense1 5100, BN 400, dense2 10100,
    # BN 4*30 = 120, rnn1 5460, BN 240, rnn2 7260, BN of the 160 joined 640, output 483.
    ("dual_lstm", 30_003),
    # Example 6: TD1 448, TD2 544, lstm1 1008, lstm2 456, and the uncounted output 3*(6+1) = 21: 2,477.
    ("hier_lstm", 2_477),
    # Example 7 (not counted in the post): h1 50*(30+1) = 1550, h2 1*(50+1) = 51, output 1*(1+1) = 2.
    ("rank", 1_603),
    # Example 8 (not counted): dense1 60*31 = 1860, dense2 20*61 = 1220, output1 3*21 = 63,
    # dense3 80*(50+20+1) = 5680, dense4 50*81 = 4050, output2 51.
    ("multitask", 12_924),
    # Example 9: Conv1 (4*1+1)*5 = 25, Conv2 (4*5+1)*5 = 105, output (234*5+1)*3 = 3513: 3,643.
    ("cnn1d", 3_643),
    # Example 10 ("from Examples 6 and 9"): 25 + 105, lstm1 4*(50*(1170+50)+50) = 244200,
    # lstm2 4*(30*(50+30)+30) = 9720, output 3*31 = 93.
    ("td_cnn_lstm", 254_143),
    # Post 001 (no count given), its weight shapes: stem 7*7*4*64+64 = 12608, 64*64+64 = 4160,
    # 3*3*64*192+192 = 110784; modules 3a-5b 3,190,832 (their "3x3" weights are 1x1); FC2 7*7*1024*3+3 = 150531.
    ("inception", 3_468_915),
    # Post 004 (no count given): LSTM 256 on (5, 2) 4*(256*258+256) = 265216, LSTM 256 4*(256*512+256) = 525312,
    # TimeDistributed Dense 1 257, Dense 5 30, Dense 1 6.
    ("lstm_regressor", 790_821),
]

VARIANT_COUNTS = [
    # Example 4 with GRU cells (reset_after=True, Keras' default since TF 2): GRU 3*(50*80+2*50) = 12300,
    # 3*(50*100+2*50) = 15300, plus Example 4's batch-norms and output 120 + 200 + 200 + 153.
    ("gru", 28_273),
    # Post 004's net with GRU cells: 3*(256*258+2*256) = 199680, 3*(256*512+2*256) = 394752, 257 + 30 + 6.
    ("gru_regressor", 594_725),
    # Post 004's many-to-many form: its two LSTMs and the per-step Dense 1, the last 5 steps cropped.
    ("lstm_regressor_seq", 790_785),
]


@pytest.mark.parametrize(("name", "count"), POST_COUNTS, ids=[n for n, _ in POST_COUNTS])
def test_summary_prints_the_keras_count_of_the_posts_code(name, count):
    assert keras_total(name) == count


@pytest.mark.parametrize(("name", "count"), VARIANT_COUNTS, ids=[n for n, _ in VARIANT_COUNTS])
def test_summary_prints_the_keras_count_of_the_post_variants(name, count):
    assert keras_total(name) == count


def rnn(cell: str, units: int, sequences: bool) -> str:
    return f"{cell}(dropout=0.0, recurrent_dropout=0.0, return_sequences={sequences}, units={units})"


PLAIN_LAYERS = {
    # Post 000, Example 2: SimpleRNN(50, return_sequences=True), SimpleRNN(50), Dense(3, softmax).
    "rnn": [rnn("SimpleRNN", 50, True), rnn("SimpleRNN", 50, False), "Dense(units=3)"],
    # Example 3: Dense(100, relu) x2 beside SimpleRNN(60) x2, Concatenate, Dense(3, softmax).
    "dual_rnn": [
        "Dense(activation=relu, units=100)",
        "Dense(activation=relu, units=100)",
        rnn("SimpleRNN", 60, True),
        rnn("SimpleRNN", 60, False),
        "Concatenate()",
        "Dense(units=3)",
    ],
    # Example 6: TimeDistributed(LSTM(8, return_sequences=True)), TimeDistributed(LSTM(8)), LSTM(12, ...), LSTM(6).
    "hier_lstm": [
        f"TimeDistributed({rnn('LSTM', 8, True)})",
        f"TimeDistributed({rnn('LSTM', 8, False)})",
        rnn("LSTM", 12, True),
        rnn("LSTM", 6, False),
        "Dense(units=3)",
    ],
    # Post 004: LSTM(256, return_sequences=True) x2, TimeDistributed(Dense(1)), Flatten, Dense(5, linear), Dense(1).
    "lstm_regressor": [
        rnn("LSTM", 256, True),
        rnn("LSTM", 256, True),
        "TimeDistributed(Dense(units=1))",
        "Flatten()",
        "Dense(units=5)",
        "Dense(units=1)",
    ],
}


@pytest.mark.parametrize("name", sorted(PLAIN_LAYERS))
def test_nets_without_dropout_are_the_posts_layers(name):
    assert layers(name) == PLAIN_LAYERS[name]


def test_example_1_ends_in_one_sigmoid_unit_served_as_two_class_probabilities():
    assert layers("mlp") == [
        "Dense(activation=relu, units=60)",
        "Dense(activation=relu, units=60)",
        "Dense(units=1)",
        "BinaryLogits()",
    ]
    net = create_model("mlp", {"features": (30,)}, 2).eval()
    with torch.no_grad():
        x = torch.randn(5, 30)
        (logits,) = net(x)
        z = net.layers["head"](net.layers["dense_2"](net.layers["dense_1"](x)))
    p_up = torch.sigmoid(z)
    torch.testing.assert_close(torch.softmax(logits, dim=-1), torch.cat((1 - p_up, p_up), dim=1))


def test_example_4_has_dropout_layers_after_each_norm_and_input_dropout_in_the_lstms():
    norm, drop = "BatchNormalization(momentum=0.9)", "Dropout(rate=0.5)"
    lstm = "LSTM(dropout=0.3, recurrent_dropout=0.0, return_sequences={}, units=50)"
    assert layers("lstm") == [
        norm,
        drop,
        lstm.format(True),
        norm,
        drop,
        lstm.format(False),
        norm,
        drop,
        "Dense(units=3)",
    ]


def test_example_5_has_simple_rnns_and_norm_and_dropout_on_every_input_the_join_included():
    norm, drop = "BatchNormalization(momentum=0.9)", "Dropout(rate=0.5)"
    rnn = "SimpleRNN(dropout={}, recurrent_dropout=0.0, return_sequences={}, units=60)"
    assert layers("dual_lstm") == [
        norm,
        drop,
        "Dense(activation=relu, units=100)",
        norm,
        drop,
        "Dense(activation=relu, units=100)",
        norm,
        drop,
        rnn.format(0.3, True),
        norm,
        drop,
        rnn.format(0.0, False),
        "Concatenate()",
        norm,
        drop,
        "Dense(units=3)",
    ]
    deeper = model_spec("dual_lstm", get_entry("dual_lstm").inputs, 3, recurrent=(8, 8, 8)).layers
    assert [n.params["dropout"] for n in deeper if n.type == "SimpleRNN"] == [0.3, 0.0, 0.0]  # the first cell's
    with pytest.raises(ValueError, match=r"cell_dropout \[0.3, 0.1\]: 2 rates for 1 recurrent layer\(s\)"):
        model_spec("dual_lstm", get_entry("dual_lstm").inputs, 3, recurrent=(8,), cell_dropout=(0.3, 0.1))


def test_example_7_scores_with_relu_and_puts_a_sigmoid_unit_on_the_difference():
    assert layers("rank") == [
        "Dense(activation=relu, units=50)",
        "shares:scorer_1",
        "Dense(activation=relu, units=1)",
        "shares:score",
        "Subtract()",
        "Dense(units=1)",
        "shares:preference",
    ]
    outputs = model_spec("rank", get_entry("rank").inputs, 2).outputs
    assert [(o.layer, o.loss) for o in outputs] == [("preference", "binary_crossentropy")]


def test_example_8_has_two_dense_layers_per_branch_and_a_squared_error_forecast():
    assert layers("multitask") == [
        "Dense(activation=relu, units=60)",
        "Dense(activation=relu, units=20)",
        "Dense(units=3)",
        "Concatenate()",
        "Dense(activation=relu, units=80)",
        "Dense(activation=relu, units=50)",
        "Dense(units=1)",
    ]
    spec = model_spec("multitask", get_entry("multitask").inputs, get_entry("multitask").n_outputs)
    assert spec.layers[3].inputs == ("features", "hidden_2")  # Concatenate([Input2, dense2])
    assert [(o.name, o.loss, o.weight) for o in spec.outputs] == [
        ("probabilities", "crossentropy", 2.0),
        ("forecast", "mse", 1.0),
    ]


@pytest.mark.parametrize("name", ["cnn1d", "td_cnn_lstm"])
def test_examples_9_and_10_convolve_with_five_linear_filters_of_width_four(name):
    convs = [row for row in layers(name) if "Conv1D" in row]
    assert len(convs) == 2 and all(
        "filters=5" in c and "kernel_size=4" in c and "activation=linear" in c for c in convs
    )


def test_post_001_googlenet_has_nine_modules_and_the_posts_branch_kernels():
    rows = layers("inception")
    assert sum(row.startswith("Concatenate") for row in rows) == 9
    assert rows.count("LocalResponseNormalization(alpha=0.0001, beta=0.75, bias=2.0, depth_radius=2)") == 2
    assert rows[-3:] == ["Dropout(rate=0.6)", "Flatten()", "Dense(units=3)"]
    kernels = {row for row in rows if row.startswith("Conv2D") and "activation=relu" in row}
    assert {re.search(r"kernel_size=(\d+)", row).group(1) for row in kernels} == {"1", "5", "7"}
