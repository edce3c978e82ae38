"""The model zoo. Importing it registers every family; add an architecture by adding one module."""

from . import conv, dense, multi_input, recurrent  # noqa: F401  (register their models)
from .registry import ModelEntry, create_model, get_entry, list_models, model_spec, register_model
from .spec import Spec, SpecError, SpecModel, build, load_spec
from .summary import summary

__all__ = [
    "ModelEntry",
    "Spec",
    "SpecError",
    "SpecModel",
    "build",
    "create_model",
    "get_entry",
    "list_models",
    "load_spec",
    "model_spec",
    "register_model",
    "summary",
]
