"""signalstack's own descriptor pool: its messages never enter protobuf's default pool.

Other packages register the same Open Inference Protocol names (``inference.ModelInferRequest``...)
in protobuf's process-wide default pool: Triton's ``tritonclient.grpc`` and KServe's generated code
both do. Had signalstack's generated code registered its copy there too, whichever came second
would fail at import with ``duplicate symbol 'inference.ServerLiveRequest'``. So every generated
``*_pb2.py`` of this package adds its file to `POOL` instead (`generate` writes them so), and
their message classes are built from it: they coexist with Triton's and KServe's in one process,
and are distinct classes from theirs (the bytes on the wire are the same).

A file that imports another ``.proto`` (none does today) gets that dependency copied into `POOL`
from the pool its own generated module registered it in, usually the default pool. Its messages
are then `POOL`'s classes, distinct from that module's: build them through the field (e.g.
``msg.when.FromDatetime(...)``) rather than assigning an instance of the other module's class.

gRPC reflection describes the services of one pool; `for_services` makes one holding the files of
the served services, wherever they were registered, for ``enable_server_reflection(..., pool=)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor

POOL = descriptor_pool.DescriptorPool()
"""The pool of every message and service generated from the ``.proto`` files of `signalstack.protos`."""


def add(serialized: bytes) -> FileDescriptor:
    """Add a serialized ``FileDescriptorProto`` to `POOL` (its dependencies first); return its descriptor.

    Adding the same file again returns the descriptor already there, as protobuf's own pools do.
    """
    proto = descriptor_pb2.FileDescriptorProto.FromString(serialized)
    for name in proto.dependency:
        _copy(_find_file(name, (POOL, descriptor_pool.Default())), POOL)
    return POOL.AddSerializedFile(serialized)


def for_services(names: Iterable[str]) -> descriptor_pool.DescriptorPool:
    """A new pool holding the files (and their dependencies) that define the services `names`.

    Each service is looked up in `POOL` first, then in protobuf's default pool (grpc's health and
    reflection services), so signalstack's ``inference.GRPCInferenceService`` is described even in
    a process where Triton's or KServe's copy is in the default pool.
    """
    pool = descriptor_pool.DescriptorPool()
    for name in names:
        for source in (POOL, descriptor_pool.Default()):
            try:
                service = source.FindServiceByName(name)
            except KeyError:
                continue
            _copy(service.file, pool)
            break
        else:
            raise KeyError(
                f"service {name!r}: not in signalstack's descriptor pool nor in protobuf's default pool "
                "(expected its generated *_pb2 module to be imported)"
            )
    return pool


def _find_file(name: str, pools: Iterable[descriptor_pool.DescriptorPool]) -> FileDescriptor:
    for pool in pools:
        try:
            return pool.FindFileByName(name)
        except KeyError:
            continue
    raise KeyError(f"{name}: not in any descriptor pool (expected its generated *_pb2 module to be imported first)")


def _copy(file: FileDescriptor, pool: descriptor_pool.DescriptorPool) -> None:
    """Add `file` and, first, its dependencies to `pool`, skipping those already there."""
    try:
        pool.FindFileByName(file.name)
        return
    except KeyError:
        pass
    for dependency in file.dependencies:
        _copy(dependency, pool)
    pool.AddSerializedFile(file.serialized_pb)
