"""The base of every parameter type: strict, closed and frozen, and a one-line error."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from tvs_pipeline.errors import ConfigError

__all__ = ["Parameters", "validation_message"]


def validation_message(err: ValidationError, model: type[BaseModel], what: str) -> str:
    """The first error of a validation as one line: ``what: dotted.key: reason (got ...)``.

    An unknown key names the closest known key of the model it was given to.
    """
    first = err.errors()[0]
    loc = tuple(first["loc"])
    dotted = ".".join(str(part) for part in loc) or "(top)"
    if first["type"] == "extra_forbidden":
        owner: Any = model
        for part in loc[:-1]:
            field = getattr(owner, "model_fields", {}).get(part)
            owner = getattr(field, "annotation", None)
        known = list(getattr(owner, "model_fields", {}))
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{what}: {dotted}: unknown key{hint}"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        return f"{what}: {dotted}: required key is missing"
    if not loc:  # a rule across fields names them itself
        return f"{what}: {message}"
    return f"{what}: {dotted}: {message} (got {first.get('input')!r})"


class Parameters(BaseModel):
    """A frozen set of parameters whose field defaults are the project's defaults.

    Strict (``"2"`` is not an int), closed (an unknown key is an error) and frozen (a value, so
    a run cannot change it). The profile's config models are built from these types, so a
    default is written once: here, on the field.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def build(cls, values: Mapping[str, Any] | None = None, what: str = "") -> Self:
        """Validate ``values`` (nested mappings for nested parameters) into a new instance.

        Raises
        ------
        ConfigError
            One line naming the key, the problem and the value given.
        """
        try:
            return cls.model_validate(dict(values or {}))
        except ValidationError as err:
            raise ConfigError(validation_message(err, cls, what or cls.__name__)) from err

    def updated(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` (nested parameters as mappings merge one level)."""
        values = self.model_dump()
        for name, value in changes.items():
            current = values.get(name)
            if isinstance(current, dict) and isinstance(value, Mapping):
                values[name] = {**current, **value}
            elif isinstance(value, BaseModel):
                values[name] = value.model_dump()
            else:
                values[name] = value
        return type(self).build(values)
