"""One ``[[sources]]`` table: ``type``, ``name``, ``enabled`` and that source type's options.

The options are the rest of the table, validated against the ``Options`` model of the source
class registered under ``type`` (see `tocsin.plugins.source_classes`). The classes come from
the validation context (``{"source_classes": {...}}`` or ``{"plugin_manager": pm}``), else from
the process-wide plugin manager. Errors in the options are reported at their own key
(``sources[2].interval``), together with any error in ``type``, ``name`` or ``enabled``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from tocsin.configerror import custom_error, did_you_mean
from tocsin.redaction import redact_mapping
from tocsin.sources.base import Source, SourceOptions

__all__ = ["BASE_KEYS", "Slug", "SourceConfig", "check_unique_names", "slug"]

BASE_KEYS = ("type", "name", "enabled")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def slug(value: str) -> str:
    """Check a watch or source name: lower case letters, digits, ``-`` and ``_``."""
    if not _SLUG.match(value):
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_") or "my-name"
        raise custom_error(
            "slug",
            f"{value!r} is not a valid name: use lower case letters, digits, - and _",
            f'write it as a slug, e.g. name = "{suggestion[:63]}"',
        )
    return value


Slug = Annotated[str, AfterValidator(slug)]


def _reraise(title: str, errors: Sequence[ErrorDetails | InitErrorDetails]) -> ValidationError:
    """A ValidationError from collected errors, kept intact when raised inside a validator."""
    details: list[InitErrorDetails] = []
    for error in errors:
        kind = error["type"]
        if isinstance(kind, str):
            ctx = dict(error.get("ctx") or {})
            msg = str(error.get("msg", kind))
            kind = PydanticCustomError(kind, "{message}", {**ctx, "message": msg})
        details.append(InitErrorDetails(type=kind, loc=error["loc"], input=error["input"]))
    return ValidationError.from_exception_data(title, details)


def check_unique_names(items: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate `items` with `handler`; also report every repeated ``name`` at ``[i].name``.

    Names are read from the raw input so that a repeat is reported even when some entries
    have other errors.
    """
    errors: list[ErrorDetails | InitErrorDetails] = []
    result = None
    try:
        result = handler(items)
    except ValidationError as exc:
        errors.extend(exc.errors())
    first: dict[str, int] = {}
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, Mapping) else getattr(item, "name", None)
        if not isinstance(name, str):
            continue
        if name in first:
            error = custom_error(
                "duplicate_name",
                f"the name {name!r} is already used by entry [{first[name]}]",
                "give each entry its own name",
            )
            errors.append(InitErrorDetails(type=error, loc=(index, "name"), input=name))
        else:
            first.setdefault(name, index)
    if errors:
        raise _reraise("names", errors)
    return result


def _classes(context: Any) -> Mapping[str, type[Source]]:
    context = context if isinstance(context, Mapping) else {}
    if "source_classes" in context:
        classes: Mapping[str, type[Source]] = context["source_classes"]
        return classes
    from tocsin.plugins import source_classes

    return source_classes(context.get("plugin_manager"))


def _unknown_type(kind: str, classes: Mapping[str, type[Source]]) -> InitErrorDetails:
    known = ", ".join(classes) or "(none installed)"
    error = custom_error(
        "unknown_source_type",
        f"unknown source type {kind!r}{did_you_mean(kind, classes)}",
        f"use one of the installed source types: {known} (`tocsin sources` lists them)",
    )
    return InitErrorDetails(type=error, loc=("type",), input=kind)


def _options(
    kind: Any, raw: Any, context: Any
) -> tuple[SourceOptions, list[ErrorDetails | InitErrorDetails]]:
    """The validated options for source type `kind`, or a placeholder and the errors."""
    if not isinstance(kind, str):
        return SourceOptions(), []
    classes = _classes(context)
    cls = classes.get(kind)
    if cls is None:
        return SourceOptions(), [_unknown_type(kind, classes)]
    if isinstance(raw, cls.Options):
        return raw, []
    try:
        return cls.Options.model_validate(raw), []
    except ValidationError as exc:
        known = [*BASE_KEYS, *cls.Options.model_fields]
        errors: list[ErrorDetails | InitErrorDetails] = []
        for error in exc.errors():
            if error["type"] == "extra_forbidden":
                error["ctx"] = {**(error.get("ctx") or {}), "known": known}
            errors.append(error)
        return SourceOptions(), errors


class SourceConfig(BaseModel):
    """A configured source instance; `options` is an instance of its class's ``Options``."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: str
    name: Slug
    enabled: bool = True
    options: SerializeAsAny[SourceOptions] = Field(default_factory=SourceOptions)

    @model_validator(mode="wrap")
    @classmethod
    def _with_options(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if not isinstance(data, Mapping):
            return handler(data)
        base = {key: value for key, value in data.items() if key in BASE_KEYS}
        raw = data.get("options")
        if not isinstance(raw, SourceOptions):
            raw = {key: value for key, value in data.items() if key not in BASE_KEYS}
        options, errors = _options(data.get("type"), raw, info.context)
        try:
            model = handler({**base, "options": options})
        except ValidationError as exc:
            errors = [*exc.errors(), *errors]
        if errors:
            raise _reraise("SourceConfig", errors)
        return model

    def __repr_args__(self) -> Any:
        yield "type", self.type
        yield "name", self.name
        yield "enabled", self.enabled
        yield "options", redact_mapping(self.options.model_dump())
