"""The YAML files' keys, read from the JSON Schemas of their settings models (`signalstack.core.settings.json_schema`).

`FILES` lists the documents: (title, import path of the model, what the document is). Each becomes a section
with a table of its keys (type, default, description), nested sections for nested settings. A model that cannot
be imported is not skipped in silence: its section says so, and the build's log shows a warning (which
`mkdocs build --strict` turns into a failure).
"""

from __future__ import annotations

import importlib
import json
import logging
from typing import Any

from . import markdown as md

log = logging.getLogger("mkdocs.plugins.signalstack.yaml_reference")

FILES: list[tuple[str, str, str]] = [
    (
        "Trading settings",
        "signalstack.plugin.settings.TradingSettings",
        (
            "How a model's signals are traded and what the broker charges: the keys of an experiment file's "
            "`backtest:` section and of `paper.yaml`, and the flags of `signalstack backtest` and `signalstack paper "
            "run`."
        ),
    ),
    (
        "Experiment file",
        "signalstack.research.settings.ExperimentFile",
        (
            "The YAML file `signalstack run` and `signalstack tune` read: the data, the samples, the model, the "
            "walk-forward folds x seeds, the baselines, the surrogates and the search space of a research run. A "
            "relative path is read from the experiment file's folder."
        ),
    ),
    (
        "`paper.yaml`",
        "signalstack.paper.config.PaperFile",
        (
            "The file `signalstack paper run --config` reads: one key per flag of `paper run` (the flags given "
            "override it), the trading settings and the risk limits among them. The bearer token is never a key: "
            "`--token` or `$SIGNALSTACK_TOKEN`."
        ),
    ),
]
"""(title, model import path, what the document is), in page order. Add each settings model of a YAML file here."""


def page() -> str:
    """The whole YAML reference page."""
    out = [
        "# YAML files\n",
        (
            "Generated from the settings models' JSON Schemas when this site was built. Keys may be written with "
            "dashes or underscores (`buy-threshold` or `buy_threshold`); an unknown key is an error that names the "
            "valid ones. `signalstack schema` prints these schemas for an editor that completes and checks YAML.\n"
        ),
    ]
    for title, path, about in FILES:
        out.append(section(title, path, about))
    return "\n".join(out)


def section(title: str, path: str, about: str) -> str:
    """One document's section: its keys from the model at `path`, or a visible note when it cannot be loaded."""
    try:
        model = _load(path)
    except (ImportError, AttributeError) as exc:
        log.warning("YAML reference: %s (%s) cannot be loaded: %s", title, path, exc)
        return f'## {title}\n\n!!! warning "Not generated"\n    `{path}` could not be imported: {md.text(exc)}\n'
    from signalstack.core.settings import json_schema

    schema = json_schema(model)
    slug = _slug(title)
    out = [f"## {title} {{#{slug}}}\n", md.text(about) + f" Model: `{path}`.\n"]
    out += _tables(schema, schema, slug, [])
    out.append(f'??? note "JSON Schema"\n\n    ```json\n{_indent(json.dumps(schema, indent=2))}\n    ```\n')
    return "\n".join(out)


def _tables(schema: dict[str, Any], root: dict[str, Any], slug: str, prefix: list[str]) -> list[str]:
    rows, nested = [], []
    required = set(schema.get("required", ()))
    for key, prop in schema.get("properties", {}).items():
        dotted = ".".join([*prefix, key])
        target = _object_ref(prop, root)
        kind = _type(prop, root, slug, dotted)
        default = md.code(json.dumps(prop["default"])) if "default" in prop else ("required" if key in required else "")
        rows.append([md.code(dotted), kind, default, md.text(prop.get("description", ""))])
        if target is not None:
            nested.append((dotted, target))
    out = [md.table(["key", "type", "default", "description"], rows)] if rows else []
    for dotted, target in nested:
        out.append(f"### `{dotted}` {{#{slug}-{dotted.replace('.', '-').replace('_', '-')}}}\n")
        if target.get("description"):
            out.append(md.text(target["description"]) + "\n")
        out += _tables(target, root, slug, dotted.split("."))
    return out


def _type(prop: dict[str, Any], root: dict[str, Any], slug: str, dotted: str) -> str:
    if "$ref" in prop:  # its section is made by _tables, under the same anchor
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{md.text(name)}](#{slug}-{dotted.replace('.', '-').replace('_', '-')})"
    if "anyOf" in prop or "oneOf" in prop:
        return " or ".join(_type(option, root, slug, dotted) for option in prop.get("anyOf", prop.get("oneOf")))
    if "const" in prop:
        return md.code(json.dumps(prop["const"]))
    if "enum" in prop:
        return " \\| ".join(md.code(json.dumps(value)) for value in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        items = prop.get("prefixItems") or ([prop["items"]] if "items" in prop else [])
        return "list of " + ", ".join(_type(item, root, slug, dotted) for item in items) if items else "list"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return "mapping of text to " + _type(prop["additionalProperties"], root, slug, dotted)
    words = {
        "number": "number",
        "integer": "integer",
        "string": "text",
        "boolean": "true or false",
        "null": "null",
        "object": "mapping",
    }
    bounds = [
        f"{sign} {prop[key]}"
        for key, sign in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="))
        if key in prop
    ]
    shown = words.get(kind, kind) + (f" ({', '.join(bounds)})" if bounds else "")
    return shown + (f", {prop['format']}" if "format" in prop else "")


def _object_ref(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The nested settings a key holds (its `$ref`: alone, beside null, or as the items of a list or mapping), else
    None."""
    if "$ref" in prop:
        return root["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
    inner = [*prop.get("anyOf", ()), *prop.get("oneOf", ()), *prop.get("prefixItems", ())]
    inner += [prop[key] for key in ("items", "additionalProperties") if isinstance(prop.get(key), dict)]
    return next((found for option in inner if (found := _object_ref(option, root)) is not None), None)


def _load(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _slug(title: str) -> str:
    return "-".join(title.lower().replace("`", "").replace(".", " ").split())


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
