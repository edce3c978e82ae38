"""Feed-forward nets over one vector of factors: the MLP and the pairwise ranking scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .registry import register_model
from .spec import Spec, SpecBuilder


def dense_stack(
    b: SpecBuilder, x: str, hidden: Sequence[int], activation: str, dropout: float = 0.0, prefix: str = "dense"
) -> str:
    """Dense layers named prefix_1, prefix_2, ..., each followed by dropout when `dropout` > 0."""
    for i, units in enumerate(hidden, start=1):
        x = b.add("Dense", x, name=f"{prefix}_{i}", units=int(units), activation=activation)
        if dropout:
            x = b.add("Dropout", x, name=f"{prefix}_{i}_dropout", rate=dropout)
    return x


def classifier_head(b: SpecBuilder, x: str, n_outputs: int) -> str:
    """The posts' binary head, Dense(1, sigmoid), as Dense 1 -> BinaryLogits; Dense(n_outputs) otherwise.

    Two classes keep the post's single unit (61 parameters after 60 units, not 122) while the
    net still outputs [1 - p, p] over the classes, like every classifier, so serving and the
    plugin read one contract. Other sizes (3 classes, a regression value) get Dense(n_outputs).
    """
    if n_outputs != 2:
        return b.add("Dense", x, name="head", units=int(n_outputs))
    return b.add("BinaryLogits", b.add("Dense", x, name="head", units=1), name="head_classes")


@register_model("mlp", inputs={"features": (30,)}, n_outputs=2)
def mlp(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    hidden: Sequence[int] = (60, 60),
    activation: str = "relu",
    dropout: float = 0.0,
) -> Spec:
    """30 factors -> Dense 60 relu -> Dense 60 relu -> Dense 1 sigmoid: P(up) and 1 - P(up) (Example 1).

    The sigmoid unit is exported as the two class probabilities (see `classifier_head`); with
    three-class labels the head is a 3-way softmax. A (T, F) window is flattened first.
    """
    b = SpecBuilder("mlp")
    x = b.input("features", inputs["features"])
    if len(inputs["features"]) > 1:
        x = b.add("Flatten", x, name="flatten")
    x = dense_stack(b, x, hidden, activation, dropout)
    b.output(classifier_head(b, x, n_outputs))
    return b.spec()


@register_model("rank", inputs={"stock_a": (30,), "stock_b": (30,)}, n_outputs=2)
def rank(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    hidden: Sequence[int] = (50,),
    activation: str = "relu",
    score_activation: str = "relu",
) -> Spec:
    """Pairwise ranking (Example 7): one scorer on two stocks, Dense 1 sigmoid on score_a - score_b; serves the scorer.

    Trained on pairs labelled 1 when stock_a beats stock_b. The scorer is the post's: Dense 50
    relu -> Dense 1 relu. The exported file takes one stock (input `factors`) and outputs
    `score`: the post's score passed through the output unit's affine map (shared weights),
    w * score + b. Then score_a - score_b is the logit the pair net learned, so a higher score
    always means the more preferred stock, whatever the sign the unit learned for w.
    """
    if n_outputs != 2:
        raise ValueError(f"rank: n_outputs {n_outputs}: expected 2 (a pair is ordered one way or the other)")
    if inputs["stock_a"] != inputs["stock_b"]:
        raise ValueError(f"rank: stock_a {inputs['stock_a']} and stock_b {inputs['stock_b']}: expected one shape")
    b = SpecBuilder("rank")
    a, other = b.input("stock_a", inputs["stock_a"]), b.input("stock_b", inputs["stock_b"])
    for i, units in enumerate(hidden, start=1):
        a = b.add("Dense", a, name=f"scorer_{i}", units=int(units), activation=activation)
        other = b.share(f"scorer_{i}", other, name=f"scorer_{i}_b")
    score_a = b.add("Dense", a, name="score", units=1, activation=score_activation)
    score_b = b.share("score", other, name="score_b")
    difference = b.add("Subtract", [score_a, score_b], name="difference")
    b.output(b.add("Dense", difference, name="preference", units=1), loss="binary_crossentropy")
    served = b.share("preference", score_a, name="served_score")
    return b.spec(serve={"inputs": {"factors": "stock_a"}, "outputs": {"score": served}})
