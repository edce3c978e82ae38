"""The model zoo. Importing it registers every family; add an architecture by adding one module."""

from . import recurrent  # noqa: F401  (registers its models)
from .registry import ModelEntry, create_model, get_entry, list_models, register_model

__all__ = ["ModelEntry", "create_model", "get_entry", "list_models", "register_model"]
