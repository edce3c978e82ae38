"""Feed-forward nets over one vector of factors: the MLP and the pairwise ranking scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .registry import register_model
from .spec import Spec, SpecBuilder


def dense_stack(b: SpecBuilder, x: str, hidden: Sequence[int], activation: str, dropout: float = 0.0,
                 prefix: str = "dense") -> str:
    """Dense layers named prefix_1, prefix_2, ..., each followed by dropout when `dropout` > 0."""
    for i, units in enumerate(hidden, start=1):
        x = b.add("Dense", x, name=f"{prefix}_{i}", units=int(units), activation=activation)
        if dropout:
            x = b.add("Dropout", x, name=f"{prefix}_{i}_dropout", rate=dropout)
    return x


@register_model("mlp", inputs={"features": (30,)}, n_outputs=2)
def mlp(*, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, hidden: Sequence[int] = (60, 60),
        activation: str = "relu", dropout: float = 0.0) -> Spec:
    """30 factors -> Dense 60 relu -> Dense 60 relu -> class probabilities (Keras post, Example 1).

    The post's single sigmoid unit is the two-class softmax here (softmax([0, z]) = [1 - σ(z), σ(z)]),
    so every classifier exports the same `probabilities` output. A (T, F) window is flattened first.
    """
    b = SpecBuilder("mlp")
    x = b.input("features", inputs["features"])
    if len(inputs["features"]) > 1:
        x = b.add("Flatten", x, name="flatten")
    x = dense_stack(b, x, hidden, activation, dropout)
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


@register_model("rank", inputs={"stock_a": (30,), "stock_b": (30,)}, n_outputs=2)
def rank(*, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, hidden: Sequence[int] = (50,),
         activation: str = "relu") -> Spec:
    """Pairwise ranking (Example 7): one scorer on two stocks, sigmoid(score_a - score_b); serves the scorer.

    Trained on pairs labelled 1 when stock_a beats stock_b; the exported file is the scorer
    alone (input `factors`, output `score`), so a strategy can rank a whole universe.
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
    score_a = b.add("Dense", a, name="score", units=1)
    score_b = b.share("score", other, name="score_b")
    b.output(b.add("Subtract", [score_a, score_b], name="preference"), loss="binary_crossentropy")
    return b.spec(serve={"inputs": {"factors": "stock_a"}, "outputs": {"score": "score"}})
