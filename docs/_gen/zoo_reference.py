"""The model zoo table, read from the registry (`signalstack.models.zoo.list_models()` / `get_entry()`).

Each architecture's row: its name, the summary its builder's docstring gives, the reference post's input shapes
and outputs, the parameters `--param` can set with their defaults, and the parameter counts of the net built at
those sizes (torch's, and the Keras-equivalent count `signalstack summary` prints).
"""

from __future__ import annotations

from . import markdown as md


def page() -> str:
    """The whole zoo reference page."""
    from signalstack.models.zoo import create_model, get_entry, list_models

    rows = []
    for name in list_models():
        entry = get_entry(name)
        net = create_model(name, entry.inputs, entry.n_outputs)
        torch_count = sum(p.numel() for p in net.parameters())
        keras_count = sum(layer.keras_params() for layer in net.layers.values())
        inputs = "<br>".join(f"{md.code(key)} {md.code(shape)}" for key, shape in entry.inputs.items())
        outputs = md.code(entry.n_outputs if isinstance(entry.n_outputs, int) else dict(entry.n_outputs))
        params = "<br>".join(f"{md.code(key)} = {md.code(value)}" for key, value in entry.defaults.items())
        rows.append(
            [md.code(name), md.text(entry.summary), inputs, outputs, params, f"{keras_count:,}", f"{torch_count:,}"]
        )
    return "\n".join(
        [
            "---\nhide:\n  - toc\n---\n",  # the table needs the width of the table of contents
            "# Model zoo\n",
            (
                "Generated from the registry (`signalstack.models.zoo`) when this site was built; `signalstack models` "
                "prints the same list. Inputs are the reference post's shapes without the batch axis (training takes "
                "the data's own); every size is a parameter (`--param hidden=32,32`, or `model.params` in an "
                "experiment file). A single number for a per-layer parameter means one layer of that width. Parameter "
                "counts are of the net built at the listed inputs and defaults.\n"
            ),
            md.table(["name", "what", "inputs", "outputs", "parameters", "Keras params", "torch params"], rows),
            (
                "How a net's declared inputs decide the samples it trains on: [Train any zoo net from bars]"
                "(../how-to/zoo-nets.md). A net of your own, layer by layer: [A net declared layer by layer]"
                "(../how-to/net-spec.md).\n"
            ),
        ]
    )
