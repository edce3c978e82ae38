"""The gRPC reference, read from the .proto files and their comments.

grpcio-tools' protoc (a dependency already) compiles every .proto under `signalstack.protos` into a descriptor
set with source info; each file, service, method, message, field and enum is listed with the comments written
beside it, so the page says what the .proto says.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2

from . import markdown as md

_FIELD_TYPES = {
    value: name.removeprefix("TYPE_").lower() for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()
}
# Where the source info keeps a declaration's comments: (kind of parent, field number of the list) -> kind.
_MESSAGE, _SERVICE, _ENUM, _FILE = "message", "service", "enum", "file"


def page() -> str:
    """The whole gRPC reference page."""
    files = descriptor_set()
    out = [
        "# gRPC services\n",
        (
            "Generated from the .proto files and their comments when this site was built. `signalstack serve` serves "
            "`signalstack.v1.SignalService` and the Open Inference Protocol's `inference.GRPCInferenceService` on one "
            "port; a paper run's `grpc:` feed serves `signalstack.v1.BarFeed`. The package `signalstack.v1` only "
            "grows: no field or method is renamed, renumbered, retyped or removed (`buf breaking` checks it in CI).\n"
        ),
    ]
    # signalstack's own services first, the one a client calls before the paper run's push service.
    for file in sorted(
        files.file, key=lambda f: (f.package != "signalstack.v1", not f.name.endswith("signals.proto"), f.name)
    ):
        out.append(_file(file))
    return "\n".join(out)


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """Every .proto of `signalstack.protos`, compiled with its source info (comments and positions)."""
    from grpc_tools import protoc

    import signalstack.protos

    root = Path(signalstack.protos.__file__).parent
    protos = sorted(str(path.relative_to(root)) for path in root.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        status = protoc.main(["protoc", f"-I{root}", "--include_source_info", f"--descriptor_set_out={out}", *protos])
        if status != 0:
            raise RuntimeError(f"protoc could not compile {', '.join(protos)} (exit status {status})")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


class _Comments:
    """A file's comments by declaration path (the source info's paths of numbers)."""

    def __init__(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        self._by_path = {tuple(loc.path): loc for loc in file.source_code_info.location}

    def leading(self, path: Sequence[int]) -> str:
        loc = self._by_path.get(tuple(path))
        return _clean(loc.leading_comments) if loc else ""

    def trailing(self, path: Sequence[int]) -> str:
        loc = self._by_path.get(tuple(path))
        return _clean(loc.trailing_comments) if loc else ""

    def both(self, path: Sequence[int]) -> str:
        return " ".join(part for part in (self.leading(path), self.trailing(path)) if part)

    def header(self) -> str:
        """The comment at the top of the file (before `syntax`)."""
        loc = self._by_path.get((12,))
        texts = [*loc.leading_detached_comments, loc.leading_comments] if loc else []
        return "\n\n".join(_clean(text, paragraphs=True) for text in texts if text.strip())


def _file(file: descriptor_pb2.FileDescriptorProto) -> str:
    comments = _Comments(file)
    out = [f"## `{file.name}` {{#{_slug(file.name)}}}\n", f"Package `{file.package}`.\n"]
    if comments.header():
        out.append(md.text_paragraphs(comments.header()) + "\n")
    for i, service in enumerate(file.service):
        out.append(_service(file, service, comments, [6, i]))
    for i, message in enumerate(file.message_type):
        out.append(_message(file, message, comments, [4, i], message.name))
    for i, enum in enumerate(file.enum_type):
        out.append(_enum(file, enum, comments, [5, i], enum.name))
    return "\n".join(out)


def _service(
    file: descriptor_pb2.FileDescriptorProto,
    service: descriptor_pb2.ServiceDescriptorProto,
    comments: _Comments,
    path: list[int],
) -> str:
    out = [f"### service `{service.name}` {{#{_anchor(file.package, service.name)}}}\n"]
    if comments.both(path):
        out.append(md.text(comments.both(path)) + "\n")
    rows = []
    for i, method in enumerate(service.method):
        request = ("stream " if method.client_streaming else "") + _link(method.input_type)
        response = ("stream " if method.server_streaming else "") + _link(method.output_type)
        rows.append([md.code(method.name), request, response, md.text(comments.both([*path, 2, i]))])
    out.append(md.table(["method", "request", "response", "what it does"], rows))
    return "\n".join(out)


def _message(
    file: descriptor_pb2.FileDescriptorProto,
    message: descriptor_pb2.DescriptorProto,
    comments: _Comments,
    path: list[int],
    name: str,
) -> str:
    out = [f"### message `{name}` {{#{_anchor(file.package, name)}}}\n"]
    if comments.both(path):
        out.append(md.text(comments.both(path)) + "\n")
    maps = {nested.name: nested for nested in message.nested_type if nested.options.map_entry}
    if message.field:
        rows = [
            [md.code(field.name), str(field.number), _field_type(field, maps), md.text(comments.both([*path, 2, i]))]
            for i, field in enumerate(message.field)
        ]
        out.append(md.table(["field", "number", "type", "meaning"], rows))
    else:
        out.append("No fields.\n")
    for i, nested in enumerate(message.nested_type):
        if not nested.options.map_entry:
            out.append(_message(file, nested, comments, [*path, 3, i], f"{name}.{nested.name}"))
    for i, enum in enumerate(message.enum_type):
        out.append(_enum(file, enum, comments, [*path, 4, i], f"{name}.{enum.name}"))
    return "\n".join(out)


def _enum(
    file: descriptor_pb2.FileDescriptorProto,
    enum: descriptor_pb2.EnumDescriptorProto,
    comments: _Comments,
    path: list[int],
    name: str,
) -> str:
    out = [f"### enum `{name}` {{#{_anchor(file.package, name)}}}\n"]
    if comments.both(path):
        out.append(md.text(comments.both(path)) + "\n")
    rows = [
        [md.code(value.name), str(value.number), md.text(comments.both([*path, 2, i]))]
        for i, value in enumerate(enum.value)
    ]
    out.append(md.table(["value", "number", "meaning"], rows))
    return "\n".join(out)


def _field_type(field: descriptor_pb2.FieldDescriptorProto, maps: dict[str, descriptor_pb2.DescriptorProto]) -> str:
    entry = maps.get(field.type_name.rsplit(".", 1)[-1]) if field.type_name else None
    if entry is not None and field.label == field.LABEL_REPEATED:
        key, value = entry.field
        return f"map<{_scalar_or_link(key)}, {_scalar_or_link(value)}>".replace("<", "&lt;").replace(">", "&gt;")
    shown = _scalar_or_link(field)
    if field.label == field.LABEL_REPEATED:
        return "repeated " + shown
    return ("optional " if field.proto3_optional else "") + shown


def _scalar_or_link(field: descriptor_pb2.FieldDescriptorProto) -> str:
    return _link(field.type_name) if field.type_name else md.code(_FIELD_TYPES[field.type])


def _link(type_name: str) -> str:
    """A message or enum named by its full name (`.signalstack.v1.Bars`), linked to its section."""
    full = type_name.lstrip(".")
    package, _, name = _split(full)
    return f"[`{name}`](#{_anchor(package, name)})"


def _split(full: str) -> tuple[str, str, str]:
    """(package, '.', name) of a full name whose name parts start with a capital letter (`a.b.Outer.Inner`)."""
    parts = full.split(".")
    first = next(i for i, part in enumerate(parts) if part[:1].isupper())
    return ".".join(parts[:first]), ".", ".".join(parts[first:])


def _anchor(package: str, name: str) -> str:
    return f"{package}.{name}".replace(".", "-").lower()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _clean(comment: str, paragraphs: bool = False) -> str:
    lines = [line.strip() for line in comment.strip("\n").splitlines()]
    if paragraphs:
        return "\n".join(lines).strip()
    return " ".join(line for line in lines if line)
