"""Protos of the ``signalstack`` protobuf package, laid out by protobuf package path."""
