"""Typed, validated configuration: dataclasses with defaults, loaded from YAML, overridden by ``key=value``.

A config class is a plain dataclass whose fields are declared with :func:`option` (or ``field`` for nested
configs)::

    @dataclass
    class ReadoutConfig:
        epochs: int = option(50, low=1, help="readout epochs")
        optimizer: str = option("adam", choices=("adam", "sgd"))

    cfg = load_config(ReadoutConfig, "configs/x.yaml", ["epochs=3"])

Every value is checked on load: an unknown key, a wrong type or an out-of-range value raises one
:class:`ConfigError` naming the key, the value and what is allowed (with a close-match suggestion for a
misspelt key). A class may add cross-field checks in ``validate()`` (raising ConfigError with a message that
starts with one of its field names; the loader puts the section in front). Frozen settings that ``nn`` and
``plasticity`` own derive from :class:`Settings` and run the same checks when built directly.
:func:`config_to_dict` and :func:`config_from_dict` round-trip exactly through YAML.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from evohebb.config_error import ConfigError
from evohebb.plugins import import_plugins

T = TypeVar("T")
_MISSING = dataclasses.MISSING


def option(default: Any, *, low: float | None = None, high: float | None = None,
           low_inclusive: bool = True, high_inclusive: bool = True,
           choices: Iterable[Any] | None = None, help: str = "") -> Any:
    """A dataclass field with a default and the constraints checked on load."""
    meta = {"low": low, "high": high, "low_inclusive": low_inclusive, "high_inclusive": high_inclusive,
            "choices": tuple(choices) if choices is not None else None, "help": help}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def selected_section(select: Callable[[str], type], default: str, *, help: str = "") -> Any:
    """A nested section whose settings class is chosen by its own ``name`` key: ``select(name)`` gives the class
    (e.g. an environment registry's lookup), ``default`` is the name when the section gives none."""
    meta = {"low": None, "high": None, "choices": None, "help": help, "select": select, "default_name": default}
    return dataclasses.field(default_factory=lambda: select(default)(), metadata=meta)


# ----------------------------------------------------------------------------------------------- types
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
        return f"{getattr(origin, '__name__', origin)}[{args}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Return ``value`` converted to type ``tp`` or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} is not a {_type_name(tp)}")
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: {value!r} is not allowed; allowed: {_type_name(tp)}")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else value.split(",")
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: {value!r} is not a {_type_name(tp)} (write it as [a, b, ...])")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: {value!r} is not a mapping")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key}: {value!r} is not a bool (true or false)")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: {value!r} is not an int")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: {value!r} is not an int")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: {value!r} is not a float")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: {value!r} is not a float")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: {value!r} is not a string")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: {value!r} is not a mapping of {tp.__name__} fields")
        return _build(tp, value, prefix=f"{key}.")
    return value


def _check_constraints(key: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    choices = meta.get("choices")
    if choices is not None and value is not None:
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v not in choices:
                hint = difflib.get_close_matches(str(v), [str(c) for c in choices], n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(f"{key}: {v!r} is not allowed; allowed: {', '.join(map(repr, choices))}{extra}")
    low, high = meta.get("low"), meta.get("high")
    if (low is None and high is None) or value is None:
        return
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        too_low = low is not None and (v < low if meta.get("low_inclusive", True) else v <= low)
        too_high = high is not None and (v > high if meta.get("high_inclusive", True) else v >= high)
        if too_low or too_high:
            lo = "(-inf" if low is None else ("[" if meta.get("low_inclusive", True) else "(") + f"{low}"
            hi = "inf)" if high is None else f"{high}" + ("]" if meta.get("high_inclusive", True) else ")")
            raise ConfigError(f"{key}: {v!r} is out of range; allowed: {lo}, {hi}")


def check_options(obj: Any, prefix: str = "") -> None:
    """Check every field of the dataclass ``obj`` against the constraints of its :func:`option`."""
    for f in dataclasses.fields(obj):
        _check_constraints(prefix + f.name, getattr(obj, f.name), f.metadata)


class Settings:
    """Base of the frozen settings dataclasses that ``nn`` and ``plasticity`` own (pipeline configs embed them).

    Constructing one checks its options (and its ``validate()``, if any) -- the same checks, written once,
    whether it is built directly or loaded from a config; the loader then adds the key's section to the
    message (``mode: ...`` becomes ``hebbian.mode: ...``).
    """

    def __post_init__(self) -> None:
        check_options(self)
        validate = getattr(self, "validate", None)
        if callable(validate):
            validate()


def _coerce_selected(key: str, value: Any, meta: typing.Mapping[str, Any]) -> Any:
    """A :func:`selected_section`'s value: its mapping built as the class its ``name`` selects."""
    if not isinstance(value, dict):
        if dataclasses.is_dataclass(value):
            return value
        raise ConfigError(f"{key}: {value!r} is not a mapping (a section with a 'name' key)")
    name = value.get("name", meta["default_name"])
    try:
        cls = meta["select"](name)
    except ValueError as err:
        raise ConfigError(f"{key}.name: {err}") from None
    return _build(cls, {**value, "name": name}, prefix=f"{key}.")


def _build(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    upgrade = getattr(cls, "upgrade_keys", None)   # a config class may map the keys of its older versions
    if callable(upgrade):
        data = upgrade(data)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(str(key), list(fields), n=1)
        extra = f" Did you mean {prefix}{hint[0]!r}?" if hint else ""
        raise ConfigError(f"{prefix}{key}: unknown key (value {data[key]!r}).{extra} "
                          f"Allowed keys: {', '.join(prefix + f for f in fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name in data and "select" in f.metadata:
            value = _coerce_selected(key, data[name], f.metadata)
        elif name in data:
            value = _coerce(key, data[name], hints[name])
        elif f.default is not _MISSING:
            value = f.default
        elif f.default_factory is not _MISSING:
            value = f.default_factory()
        else:
            raise ConfigError(f"{key}: required, no value given")
        kwargs[name] = value
    if issubclass(cls, Settings):   # checks itself on construction
        try:
            return cls(**kwargs)
        except ConfigError as err:
            raise ConfigError(f"{prefix}{err}") from None
    obj = cls(**kwargs)
    check_options(obj, prefix)
    validate = getattr(obj, "validate", None)
    if callable(validate):  # cross-field checks: messages start with a field name of ``cls``
        try:
            validate()
        except ConfigError as err:
            raise ConfigError(f"{prefix}{err}") from None
    return obj


# ----------------------------------------------------------------------------------------- public API
def config_from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build and validate a ``cls`` instance from a (possibly partial, possibly nested) mapping."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(data).__name__}")
    if data.get("plugins"):   # they register the names the rest of the config may use
        import_plugins(data["plugins"])
    return _build(cls, data)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain YAML-able data (tuples become lists)."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v) if f.init}   # not derived ones
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(cfg)


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["a.b=3", "c=[1, 2]"]`` -> nested dict, values parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (nested keys with dots: a.b=1)")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
        node[parts[-1]] = value
    return nested


def merge_nested(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, section by section (what overrides do to a loaded YAML)."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_nested(out[k], v)
        else:
            out[k] = v
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    with path.open() as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls`` <- YAML file ``path`` <- ``key=value`` overrides; validated."""
    upgrade = getattr(cls, "upgrade_keys", lambda d: d)   # each part on its own: an override in an older spelling
    data = upgrade(load_yaml(path)) if path is not None else {}   # still wins over the file
    data = merge_nested(data, upgrade(parse_overrides(overrides)))
    return config_from_dict(cls, data)


def dump_config(cfg: Any) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically: it is part of a run's record)."""
    from evohebb.run_io.atomic_write import atomic_write_text  # runs/ is the I/O layer beside config
    atomic_write_text(path, dump_config(cfg))
