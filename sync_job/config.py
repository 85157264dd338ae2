"""config.yaml → frozen dataclasses, with every problem reported at once.

A missing key takes its default; an unknown key, a wrong type or a bad value is a problem.
Relative paths in the file are resolved against the folder that holds the file, so a scheduler
can run the job from any working directory. Paths given as command-line flags are resolved
against the working directory, as a shell user expects.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import re
import reprlib
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from sync_job.errors import ConfigError
from sync_job.fields import ALL_FIELDS
from sync_job.plan.brake import ChangeLimit, parse_change_limit, parse_invalid_limit
from sync_job.report.naming import (
    PLACEHOLDERS,
    fill,
    rejects_path_for,
    report_path_for,
    unknown_placeholders,
)

DEFAULT_CONFIG_NAME = "config.yaml"
RESULT_FORMATS = ("csv", "xlsx")
"""What the results file may be: a CSV, or an Excel workbook."""
DEFAULT_RESULTS = Path("results/results.csv")
NO_INVALID_ROWS = ChangeLimit(count=0)
"""The default ``push.max_invalid``: any invalid row makes the run exit 1."""


class _Checked:
    """A section that checks itself as ``config.yaml`` is checked, so a :class:`Config` built
    in Python is held to the same rules (every problem reported at once, a
    :class:`~sync_job.errors.ConfigError`)."""

    _section: ClassVar[str]

    def __post_init__(self) -> None:
        fields = dataclasses.fields(cast(Any, self))
        problems = []
        for item in fields:
            value = getattr(self, item.name)
            if _is_default(item, value):
                continue  # a default is valid by definition
            checked, problem = _SCHEMA[self._section][item.name](value)
            if problem:
                problems.append(f"{self._section}.{item.name}: {problem}, got {shown(value)}")
            else:
                object.__setattr__(self, item.name, checked)  # e.g. "tab" → "\t"
        if not problems:
            problem = _section_problem(self._section,
                                       {item.name: getattr(self, item.name) for item in fields})
            problems += [problem] if problem else []
        if problems:
            raise ConfigError(problems)


def _is_default(item: dataclasses.Field[Any], value: Any) -> bool:
    if item.default is not dataclasses.MISSING:
        default = item.default
    elif item.default_factory is not dataclasses.MISSING:
        default = item.default_factory()
    else:
        return False
    return value is default or (value is not None and value == default)


@dataclass(frozen=True, kw_only=True)
class ApiConfig(_Checked):
    _section = "api"

    base_url: str = "https://sms-api.huduma.cloud/api/v3"
    token_env: str = "HUDUMA_API_TOKEN"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


@dataclass(frozen=True, kw_only=True)
class InputConfig(_Checked):
    _section = "input"
    path: Path = Path("sample_data/changes.csv")
    clear_marker: str = "<clear>"
    empty_cells: str = "unchanged"  # "unchanged" | "clear"
    encoding: str | None = None  # None: BOM, then UTF-8, then cp1252
    delimiter: str | None = None  # None: sniffed among , ; tab |
    sheet: str | None = None  # None: the workbook's first sheet with a contactId column
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    phone_check: str = "possible"  # "possible" | "valid" | "format"
    default_country: str | None = None  # e.g. "TZ": local numbers (0712 345 678) completed


@dataclass(frozen=True, kw_only=True)
class SnapshotConfig(_Checked):
    _section = "snapshot"
    path: Path = Path("state/snapshot.csv")


def format_of(path: Path) -> str | None:
    """The results format a path's suffix names (``.csv``, ``.xlsx``, any case), or None."""
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in RESULT_FORMATS else None


@dataclass(frozen=True, kw_only=True)
class ResultsConfig(_Checked):
    _section = "results"
    path: Path = DEFAULT_RESULTS
    """May hold the placeholders ``{run_id}``, ``{date}`` and ``{time}`` (UTC). Its suffix
    decides the format: ``.xlsx`` a workbook, ``.csv`` a CSV."""
    format: str | None = None
    """``csv`` or ``xlsx``, for a path with another suffix (or none), and the default path's
    (``results/results.xlsx``); it may not contradict the path's ``.csv`` or ``.xlsx``.
    None: the suffix decides, else CSV."""
    delimiter: str = ","
    """The CSV's delimiter: ``,`` ``;`` tab or ``|`` (a workbook has none)."""
    summary: Path | None = None
    """Run summary JSON; None: beside the results file (results.csv → results.summary.json)."""
    keep: int | None = None
    """Keep the newest this many results files (and their summaries, reports and rejects files)
    the job made; None: all."""
    report: bool = True
    """Write the HTML run report beside the results file (results.csv → results.html)."""
    rejects: bool = True
    """Write the rejects file beside the results (``report.rejects``)."""

    def __post_init__(self) -> None:
        if self.path == DEFAULT_RESULTS and self.format == "xlsx":
            object.__setattr__(self, "path", DEFAULT_RESULTS.with_suffix(".xlsx"))
        super().__post_init__()

    @property
    def workbook(self) -> bool:
        """Whether the results file is an .xlsx workbook (else a CSV)."""
        return (format_of(self.path) or self.format) == "xlsx"

    @property
    def summary_path(self) -> Path:
        if self.summary is not None:
            return self.summary
        return self.path.with_name(self.path.stem + ".summary.json")

    @property
    def report_path(self) -> Path | None:
        """The HTML run report, beside the results file; None when ``report`` is off."""
        return report_path_for(self.path) if self.report else None

    def rejects_path(self, input_path: Path) -> Path:
        """``<results stem>.rejects.<csv|xlsx>``: a workbook for a workbook input."""
        return rejects_path_for(self.path, input_path)

    def for_run(self, *, run_id: str, when: datetime) -> ResultsConfig:
        """These settings with the placeholders filled for one run."""
        return dataclasses.replace(self, path=fill(self.path, run_id=run_id, when=when),
                                   summary=fill(self.summary_path, run_id=run_id, when=when))


@dataclass(frozen=True, kw_only=True)
class PushConfig(_Checked):
    _section = "push"
    concurrency: int = 4
    rate_limit: float = 10.0
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_changes: ChangeLimit | None = None
    """The safety brake; None: off."""
    max_retry_wait: float = 300.0
    """The longest ``Retry-After`` honoured, in seconds; a longer one counts as the API being
    unavailable."""
    stop_after_failures: int = 20
    """The circuit breaker: stop after this many rows in a row failed systemically; 0: never."""
    max_invalid: ChangeLimit = NO_INVALID_ROWS
    """Invalid rows a run may have and still exit 0: a count, or a share of the file's rows."""


@dataclass(frozen=True, kw_only=True)
class Config:
    api: ApiConfig = dataclasses.field(default_factory=ApiConfig)
    input: InputConfig = dataclasses.field(default_factory=InputConfig)
    snapshot: SnapshotConfig = dataclasses.field(default_factory=SnapshotConfig)
    results: ResultsConfig = dataclasses.field(default_factory=ResultsConfig)
    push: PushConfig = dataclasses.field(default_factory=PushConfig)
    dry_run: bool = False
    force: bool = False
    """Let this run through the safety brake (``--force``)."""

    def __post_init__(self) -> None:
        problems = [f"{name}: expected a {kind.__name__}, got {shown(getattr(self, name))}"
                    for name, kind in _SECTION_TYPES.items()
                    if not isinstance(getattr(self, name), kind)]
        problems += [f"{name}: expected True or False, got {shown(getattr(self, name))}"
                     for name in ("dry_run", "force") if not isinstance(getattr(self, name), bool)]
        if problems:
            raise ConfigError(problems)


# A checker returns (value, None) when the raw value is acceptable, else (None, "expected ...").
Checker = Callable[[Any], tuple[Any, str | None]]


def _text(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, str) and raw.strip():
        return raw, None
    return None, "expected a non-empty text"


def _marker(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, str) and raw.strip() and raw == raw.strip():
        return raw, None
    return None, "expected a non-empty text without surrounding spaces"


def _path(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, str | Path) and str(raw).strip():
        return Path(raw), None
    return None, "expected a file path"


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the API's base URL, or None.

    The URL is read as the HTTP stack that connects will read it (urllib3's parser), and
    anything two parsers might read differently is refused: user names and passwords,
    backslashes, spaces and control characters, query strings and fragments. So the host that
    every check sees is the host the token goes to.
    """
    import urllib3

    if not re.match(r"(?i)https?://", url):
        return "expected an http:// or https:// URL"
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        found = "spaces or control characters"
    elif "\\" in url:
        found = "a backslash"
    else:
        try:
            parsed = urllib3.util.parse_url(url)
            split = urllib.parse.urlsplit(url)
            split_host = split.hostname or ""
        except (ValueError, urllib3.exceptions.LocationParseError):
            return "expected an http:// or https:// URL"
        if "@" in split.netloc or parsed.auth:
            found = "a user name or password (…@): the token goes in the X-Huduma header"
        elif parsed.query is not None or split.query:
            found = "a query string (?…)"
        elif parsed.fragment is not None or split.fragment:
            found = "a fragment (#…)"
        elif not parsed.host:
            return "expected an http:// or https:// URL naming a host"
        elif parsed.host.strip("[]").lower() != split_host.lower():
            found = "a host that URL parsers read differently"
        else:
            return None
    return f"expected the API's base URL alone; this one holds {found}"


def redact_userinfo(text: str) -> str:
    """``text`` with any ``user:password@`` of a URL in it replaced, for messages."""
    return re.sub(r"(?<=//)[^/?#]*@", "…@", text)


def _results_path(raw: Any) -> tuple[Any, str | None]:
    path, problem = _path(raw)
    unknown = unknown_placeholders(path) if path is not None else []
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        return None, f"unknown placeholder {unknown[0]} (known: {known})"
    return path, problem


def _url(raw: Any) -> tuple[Any, str | None]:
    if not isinstance(raw, str):
        return None, "expected an http:// or https:// URL"
    problem = base_url_problem(raw.strip())
    return (None, problem) if problem else (raw.strip().rstrip("/"), None)


def _number(*, minimum: float, strict: bool, maximum: float) -> Checker:
    lower = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
    expected = f"expected a number {lower} and at most {maximum:g}"

    def check(raw: Any) -> tuple[Any, str | None]:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return None, expected
        # Compared before any float(): a whole number too big for a float is simply too big.
        if isinstance(raw, float) and not math.isfinite(raw):
            return None, expected
        if raw < minimum or (strict and raw == minimum) or raw > maximum:
            return None, expected
        return float(raw), None

    return check


def _integer(*, minimum: int, maximum: int) -> Checker:
    def check(raw: Any) -> tuple[Any, str | None]:
        if isinstance(raw, bool) or not isinstance(raw, int) or not minimum <= raw <= maximum:
            return None, f"expected a whole number, at least {minimum} and at most {maximum}"
        return raw, None

    return check


def _flag(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, bool):
        return raw, None
    return None, "expected true or false"


def _choice(*options: str) -> Checker:
    def check(raw: Any) -> tuple[Any, str | None]:
        if raw in options:
            return raw, None
        return None, "expected one of: " + ", ".join(options)

    return check


def _encoding(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, str) and raw.strip():
        try:
            return codecs.lookup(raw.strip()).name, None
        except LookupError:
            pass
    return None, "expected a text encoding such as utf-8, utf-16 or cp1252"


_DELIMITER_WORDS = {",": ",", ";": ";", "|": "|", "\t": "\t", "tab": "\t", "comma": ",",
                    "semicolon": ";", "pipe": "|"}


def _delimiter(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, str) and raw.lower() in _DELIMITER_WORDS:
        return _DELIMITER_WORDS[raw.lower()], None
    return None, 'expected one of ",", ";", "|", "tab"'


def _country(raw: Any) -> tuple[Any, str | None]:
    import phonenumbers  # only when a country is set: a big import for every start

    if isinstance(raw, str) and raw.strip().upper() in phonenumbers.SUPPORTED_REGIONS:
        return raw.strip().upper(), None
    return None, "expected a two-letter country code phonenumbers knows, such as TZ or KE"


def _columns(raw: Any) -> tuple[Any, str | None]:
    expected = "expected a mapping of header → field (" + ", ".join(ALL_FIELDS) + ")"
    if not isinstance(raw, dict) or not raw:
        return None, expected
    mapping: dict[str, str] = {}
    for header, name in raw.items():
        if not isinstance(header, str) or not header.strip() or name not in ALL_FIELDS:
            return None, expected
        mapping[header] = name
    return mapping, None


def _section_problem(section: str, values: Mapping[str, Any]) -> str | None:
    """A rule between two keys of one section, or None when it holds."""
    if section == "results":
        chosen, path = values.get("format"), values.get("path")
        named = format_of(path) if isinstance(path, Path) else None
        if chosen and named and chosen != named:
            return (f"results.format is {chosen}, but results.path names a .{named} file "
                    f"({path.name if isinstance(path, Path) else path}): name it .{chosen}, "
                    f"or leave results.format out (the suffix decides)")
    if section == "push":
        initial = values.get("backoff_initial", PushConfig.backoff_initial)
        ceiling = values.get("backoff_max", PushConfig.backoff_max)
        if initial > ceiling:
            return (f"push.backoff_initial ({initial:g}) must not exceed push.backoff_max "
                    f"({ceiling:g})")
    return None


# section -> key -> checker. The dataclass defaults above are the documented defaults.
_SCHEMA: dict[str, dict[str, Checker]] = {
    "api": {
        "base_url": _url,
        "token_env": _text,
        "connect_timeout": _number(minimum=0, strict=True, maximum=600),
        "read_timeout": _number(minimum=0, strict=True, maximum=600),
    },
    "input": {
        "path": _path,
        "clear_marker": _marker,
        "empty_cells": _choice("unchanged", "clear"),
        "encoding": _encoding,
        "delimiter": _delimiter,
        "sheet": _text,
        "columns": _columns,
        "phone_check": _choice("possible", "valid", "format"),
        "default_country": _country,
    },
    "snapshot": {"path": _path},
    "results": {"path": _results_path, "format": _choice(*RESULT_FORMATS),
                "delimiter": _delimiter, "summary": _results_path,
                "keep": _integer(minimum=1, maximum=1_000_000), "report": _flag,
                "rejects": _flag},
    "push": {
        "concurrency": _integer(minimum=1, maximum=256),
        "rate_limit": _number(minimum=0, strict=False, maximum=10_000),
        "max_attempts": _integer(minimum=1, maximum=100),
        "backoff_initial": _number(minimum=0, strict=False, maximum=3600),
        "backoff_max": _number(minimum=0, strict=False, maximum=3600),
        "max_changes": parse_change_limit,
        "max_retry_wait": _number(minimum=0, strict=False, maximum=86_400),
        "stop_after_failures": _integer(minimum=0, maximum=1_000_000),
        "max_invalid": parse_invalid_limit,
    },
}

_SECTION_TYPES: dict[str, type[Any]] = {
    "api": ApiConfig,
    "input": InputConfig,
    "snapshot": SnapshotConfig,
    "results": ResultsConfig,
    "push": PushConfig,
}

# Command-line flags that override a config value: flag name -> (section, key).
FLAG_KEYS: dict[str, tuple[str, str]] = {
    "input": ("input", "path"),
    "snapshot": ("snapshot", "path"),
    "results": ("results", "path"),
    "base_url": ("api", "base_url"),
    "concurrency": ("push", "concurrency"),
    "rate_limit": ("push", "rate_limit"),
    "sheet": ("input", "sheet"),
    "max_changes": ("push", "max_changes"),
    "summary": ("results", "summary"),
    "max_invalid": ("push", "max_invalid"),
    "report": ("results", "report"),
}


# A config file is a few hundred bytes; these bound what a hostile or broken one can cost.
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_VALUES = 10_000
"""At most this many values (YAML nodes) once every alias is written out: a "billion laughs"
document of a few hundred bytes would otherwise expand to gigabytes."""
SHOWN_CHARS = 80
"""A value echoed in a message is cut to this many characters."""

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = SHOWN_CHARS


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def shown(value: Any) -> str:
    """``repr(value)`` cut to :data:`SHOWN_CHARS` characters (with "…"), without ever writing
    out the whole of a big value first, and without the password of a URL in it."""
    if isinstance(value, str):
        value = redact_userinfo(value)
    return _cut(_SHORT.repr(value))


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expanded_size(root: Any, limit: int) -> int:
    """How many nodes the YAML graph under ``root`` holds with every alias written out, counted
    once per node (memoized); stops early above ``limit``. A node that contains itself (an
    alias to an anchor still open) counts as above any limit."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:  # depth first, without recursion
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > limit:
                return sizes[key]
        elif key in open_nodes:
            return limit + 1
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes.get(id(root), 0)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only a run with a config file needs it

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror or exc})"]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB; a config file is "
                           f"a few hundred bytes, is this the right file?"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    loader = yaml.SafeLoader(text)
    try:
        # Composed first and measured, then built: the aliases of a small document can stand
        # for billions of values.
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, MAX_YAML_VALUES) > MAX_YAML_VALUES:
            raise ConfigError([
                f"{path}: its aliases (*name) expand to more than {MAX_YAML_VALUES:,} values; "
                f"a config needs a few dozen: write the values out"])
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError([f"{path}: not valid YAML{where}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not valid YAML (nested too deeply)"]) from None
    except ValueError as exc:  # e.g. a whole number of more than 4,300 digits
        raise ConfigError([f"{path}: a value cannot be read ({_cut(str(exc))})"]) from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping of sections at the top level"])
    return data


def default_config_path() -> Path | None:
    """``./config.yaml`` when it exists: the file the command reads without ``--config``."""
    path = Path(DEFAULT_CONFIG_NAME)
    return path if path.is_file() else None


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> Config:
    """Build the run's configuration from the YAML file at ``path`` (if any) and command-line
    ``overrides``; without a file, from the defaults and the overrides alone.

    ``overrides`` maps flag names of :data:`FLAG_KEYS` to values; None values are ignored.
    Raises :class:`ConfigError` listing every problem. (The command reads ``./config.yaml``
    when no ``--config`` is given; see :func:`default_config_path`.)
    """
    path = Path(path) if path is not None else None
    raw: dict[str, Any] = _read_yaml(path) if path is not None else {}
    where = str(path) if path is not None else "defaults"
    base_dir = path.resolve().parent if path is not None else Path.cwd()

    problems: list[str] = []
    values: dict[str, dict[str, Any]] = {section: {} for section in _SCHEMA}
    wrong: set[str] = set()  # "section" or "section.key" given with a problem

    for section, body in raw.items():
        if section not in _SCHEMA:
            known = ", ".join(_SCHEMA)
            problems.append(f"{where}: {_cut(str(section))}: unknown section (known: {known})")
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: {section}: expected a mapping of keys")
            wrong.add(section)
            continue
        for key, value in body.items():
            checker = _SCHEMA[section].get(str(key))
            if checker is None:
                known = ", ".join(_SCHEMA[section])
                problems.append(
                    f"{where}: {section}.{_cut(str(key))}: unknown key (known: {known})")
                continue
            checked, problem = checker(value)
            if problem:
                problems.append(f"{where}: {section}.{key}: {problem}, got {shown(value)}")
                wrong.add(f"{section}.{key}")
            elif isinstance(checked, Path) and not checked.is_absolute():
                values[section][str(key)] = base_dir / checked
            else:
                values[section][str(key)] = checked

    for flag, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = FLAG_KEYS[flag]
        checked, problem = _SCHEMA[section][key](value)
        option = "--" + flag.replace("_", "-")
        if problem:
            problems.append(f"command line: {option}: {problem}, got {shown(value)}")
            wrong.add(f"{section}.{key}")
        elif isinstance(checked, Path) and not checked.is_absolute():
            values[section][key] = Path.cwd() / checked
        else:
            values[section][key] = checked
        if flag == "results" and checked is not None and format_of(checked):
            # A flag overrides the config: --results check.csv writes a CSV whatever
            # results.format says.
            values["results"]["format"] = format_of(checked)


    for name in _SCHEMA:  # rules between keys, over the keys that are fine on their own
        problem = _section_problem(name, values[name])
        if problem:
            problems.append(f"{where}: {problem}")
    if problems:
        # The snapshot the run would have used, for its line in the run history.
        snapshot = values["snapshot"].get("path", base_dir / SnapshotConfig.path)
        raise ConfigError(problems, snapshot_path=None if wrong & {"snapshot", "snapshot.path"}
                          else snapshot)

    # Default paths are relative like the file's own: to the config's folder (or the cwd).
    # The results' follows results.format (results/results.xlsx for a workbook).
    defaults = {"input": InputConfig().path, "snapshot": SnapshotConfig().path,
                "results": ResultsConfig(format=values["results"].get("format")).path}
    for section, default in defaults.items():
        values[section].setdefault("path", base_dir / default)

    sections = {name: _SECTION_TYPES[name](**values[name]) for name in _SCHEMA}
    return Config(**sections, dry_run=dry_run, force=force)
