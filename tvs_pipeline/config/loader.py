"""Load and layer the YAML presets (L0-L4 and profiles) into strict, resolved models."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from tvs_pipeline.config.schema import (
    HygieneConfig,
    ProfileConfig,
    ResolvedProfile,
    ResolvedScanner,
    ScannerConfig,
    StrategyConfig,
    TemplateConfig,
    UniverseConfig,
)
from tvs_pipeline.errors import ConfigError

__all__ = [
    "PRESETS_ROOT",
    "deep_merge",
    "list_profiles",
    "load_profile",
    "load_scanner",
    "resolved_to_yaml",
]

PRESETS_ROOT = Path(__file__).resolve().parent.parent / "presets"
LAYERS: dict[str, tuple[str, type[BaseModel]]] = {
    "universe": ("universes", UniverseConfig),
    "hygiene": ("hygiene", HygieneConfig),
    "template": ("templates", TemplateConfig),
    "strategy": ("strategies", StrategyConfig),
}
BASE_KEY = "base"
EXTEND_KEY = "extend"


def deep_merge(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``child`` over ``parent``: dicts deep-merge, lists replace unless ``{extend: [...]}``.

    Parameters
    ----------
    parent, child : Mapping
        Plain YAML documents; neither is modified.

    Returns
    -------
    dict
        A new document. A child value ``{"extend": [...]}`` appends to the parent's list.
    """
    merged: dict[str, Any] = dict(parent)
    for key, value in child.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and set(value) == {EXTEND_KEY}:
            extra = value[EXTEND_KEY]
            if not isinstance(extra, list):
                raise ConfigError(f"{key}: 'extend' needs a list, got {extra!r}")
            merged[key] = [*(old if isinstance(old, list) else []), *extra]
        elif isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML ({first})") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(doc).__name__}")
    return doc


def _ref_path(ref: str, folder: str, root: Path, declared_in: Path | None) -> Path:
    """Resolve a reference: a bare name in the layer folder, or a path relative to its declarer."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        base_dir = declared_in.parent if declared_in is not None else root / folder
        return (base_dir / ref).resolve()
    if not ref or ref.strip() != ref or ref.startswith("."):
        raise ConfigError(f"{folder}: bad reference {ref!r}")
    return root / folder / f"{ref}.yaml"


def _load_layered(
    path: Path, folder: str, root: Path, seen: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """Read a file and, recursively, its ``base:`` parent, merged parent first."""
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ConfigError(f"{path}: 'base' cycle ({chain})")
    doc = _read_yaml(path)
    base = doc.pop(BASE_KEY, None)
    if base is None:
        return doc
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base: expected a file name, got {base!r}")
    parent = _load_layered(_ref_path(base, folder, root, path), folder, root, (*seen, path))
    return deep_merge(parent, doc)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the last element of ``loc``."""
    current: type[BaseModel] = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *get_args(annotation)]
        if get_origin(annotation) is list:
            candidates = list(get_args(annotation))
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        current = nested[0]
    return current


def _validate(model: type[BaseModel], doc: dict[str, Any], where: Path | str) -> Any:
    """Validate ``doc`` as ``model``; turn the first problem into a one-line ConfigError."""
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top)"
        if first["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            hint = ""
            if owner is not None:
                close = difflib.get_close_matches(str(loc[-1]), list(owner.model_fields), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: {dotted}: unknown key{hint}") from err
        if first["type"] == "missing":
            raise ConfigError(f"{where}: {dotted}: required key is missing") from err
        raise ConfigError(f"{where}: {dotted}: {first['msg']}") from err


def _resolve_layer(layer: str, value: Any, scanner_path: Path, root: Path) -> BaseModel:
    folder, model = LAYERS[layer]
    if isinstance(value, str):
        path = _ref_path(value, folder, root, None)
        return _validate(model, _load_layered(path, folder, root), path)
    if isinstance(value, dict):
        doc = dict(value)
        base = doc.pop(BASE_KEY, None)
        if base is not None:
            if not isinstance(base, str):
                raise ConfigError(f"{scanner_path}: {layer}.base: expected a file name")
            parent_path = _ref_path(base, folder, root, None)
            doc = deep_merge(_load_layered(parent_path, folder, root), doc)
        return _validate(model, doc, f"{scanner_path}: {layer}")
    raise ConfigError(f"{scanner_path}: {layer}: expected a file name or a mapping, got {value!r}")


def load_scanner(
    name: str, root: Path = PRESETS_ROOT, declared_in: Path | None = None
) -> ResolvedScanner:
    """Resolve one L4 scanner and the four layers it names.

    A layer is named by file (``universe: us_large_caps``) or given inline as a mapping, which
    may name a ``base`` and override any of its keys. ``name``: a bare name under
    ``scanners/``, or a path (``*.yaml`` or with a ``/``) relative to ``declared_in`` (the
    profile that lists it).

    Raises
    ------
    ConfigError
        Unknown key, missing or malformed file, bad value: one line naming the file and key.
    """
    path = _ref_path(name, "scanners", root, declared_in)
    doc = _load_layered(path, "scanners", root)
    scanner = _validate(ScannerConfig, doc, path)
    layers = {layer: _resolve_layer(layer, getattr(scanner, layer), path, root) for layer in LAYERS}
    return ResolvedScanner(
        name=path.stem,
        sleeve=scanner.sleeve,
        columns=list(scanner.columns),
        sort_by=scanner.sort_by,
        sort_order=scanner.sort_order,
        limit=scanner.limit,
        **layers,
    )


def load_profile(name: str, root: Path = PRESETS_ROOT) -> ResolvedProfile:
    """Resolve a profile (a name under ``profiles/`` or a path to a YAML file) and its scanners.

    Raises
    ------
    ConfigError
        Unknown profile, unknown key, missing referenced file, duplicate sleeve names.
    """
    if name.endswith((".yaml", ".yml")) or "/" in name:
        path = Path(name).resolve()
    else:
        path = root / "profiles" / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(list_profiles(root)) or "none"
            raise ConfigError(f"profile {name!r}: unknown profile (known: {known})")
    doc = _load_layered(path, "profiles", root)
    profile: ProfileConfig = _validate(ProfileConfig, doc, path)
    scanners = [load_scanner(s, root, path) for s in profile.scanners]
    names = [s.name for s in scanners]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: scanners: a scanner is listed twice ({names})")
    _check_sleeve_keys(path, profile, {s.sleeve for s in scanners})
    fields = profile.model_dump(exclude={"scanners", "description"})
    return ResolvedProfile(name=path.stem, scanners=scanners, **_rebuild(profile, fields))


def _check_sleeve_keys(path: Path, profile: ProfileConfig, sleeves: set[str]) -> None:
    """A borrow rate keyed by a sleeve no scanner has (a typo) would be silently unused.

    Only a map the profile states is checked: the default one names sleeves a profile may
    not have (``crypto``).
    """
    if "borrow_bps_per_year" not in profile.simulation.model_fields_set:
        return
    known = sorted(sleeves | {"default"})
    for key in profile.simulation.borrow_bps_per_year:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{path}: simulation.borrow_bps_per_year.{key}: no scanner has this sleeve"
                f"{hint}; expected one of {', '.join(known)}"
            )


def _rebuild(profile: ProfileConfig, fields: dict[str, Any]) -> dict[str, Any]:
    """Keep nested models as models (strict mode refuses dicts for model fields)."""
    return {key: getattr(profile, key) for key in fields}


def list_profiles(root: Path = PRESETS_ROOT) -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in (root / "profiles").glob("*.yaml"))


def resolved_to_yaml(profile: ResolvedProfile) -> str:
    """The fully resolved profile as YAML, the way ``tvs config show`` prints it."""
    return yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False, width=100)
