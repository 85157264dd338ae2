"""load_config: defaults, every key, path resolution, flag overrides, every problem at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sync_job.config import (
    FLAG_KEYS,
    ApiConfig,
    Config,
    InputConfig,
    PushConfig,
    default_config_path,
    load_config,
)
from sync_job.errors import ConfigError, StartupError


def write_config(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path | None, overrides: dict[str, object] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return caught.value.problems


FULL = """\
    api:
      base_url: http://127.0.0.1:8765/api/v3/
      token_env: MY_TOKEN
      connect_timeout: 2.5
      read_timeout: 12
    input:
      path: data/changes.csv
      clear_marker: "#clear"
      empty_cells: clear
    snapshot:
      path: /srv/state/snap.csv
    results:
      path: ../out/results.csv
    push:
      concurrency: 16
      rate_limit: 0
      max_attempts: 3
      backoff_initial: 0.25
      backoff_max: 4
    """


# ---------------------------------------------------------------- defaults


def test_no_file_anywhere_gives_the_documented_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.api == ApiConfig(
        base_url="https://sms-api.huduma.cloud/api/v3",
        token_env="HUDUMA_API_TOKEN",
        connect_timeout=5.0,
        read_timeout=30.0,
    )
    assert config.input.clear_marker == "<clear>"
    assert config.input.empty_cells == "unchanged"
    assert config.push == PushConfig(
        concurrency=4, rate_limit=10.0, max_attempts=5, backoff_initial=0.5, backoff_max=30.0
    )
    assert config.dry_run is False
    # Default paths are relative to the working directory when there is no file.
    assert config.input.path == tmp_path / "sample_data" / "changes.csv"
    assert config.snapshot.path == tmp_path / "state" / "snapshot.csv"
    assert config.results.path == tmp_path / "results" / "results.csv"


def test_empty_file_gives_defaults_relative_to_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    config = load_config(write_config(folder, ""))
    assert config.api == ApiConfig()
    assert config.push == PushConfig()
    assert config.input.path == folder / "sample_data" / "changes.csv"
    assert config.snapshot.path == folder / "state" / "snapshot.csv"
    assert config.results.path == folder / "results" / "results.csv"


def test_sections_left_empty_take_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "api:\npush:\ninput:\n"))
    assert config.api == ApiConfig()
    assert config.push == PushConfig()
    assert config.input.clear_marker == InputConfig().clear_marker


def test_a_missing_key_takes_its_default_next_to_given_keys(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "push:\n  concurrency: 9\n"))
    assert config.push.concurrency == 9
    assert config.push.rate_limit == 10.0
    assert config.push.max_attempts == 5
    assert config.api == ApiConfig()


def test_config_is_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    with pytest.raises(AttributeError):
        config.push.concurrency = 8  # type: ignore[misc]


def test_dry_run_is_carried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(dry_run=True).dry_run is True


# ---------------------------------------------------------------- every key read


def test_every_key_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "etc" / "job"
    folder.mkdir(parents=True)
    config = load_config(write_config(folder, FULL))
    assert isinstance(config, Config)
    assert config.api.base_url == "http://127.0.0.1:8765/api/v3"  # trailing slash dropped
    assert config.api.token_env == "MY_TOKEN"
    assert config.api.connect_timeout == 2.5
    assert config.api.read_timeout == 12.0
    assert config.input.path == folder / "data" / "changes.csv"
    assert config.input.clear_marker == "#clear"
    assert config.input.empty_cells == "clear"
    assert config.snapshot.path == Path("/srv/state/snap.csv")
    assert config.results.path == folder / ".." / "out" / "results.csv"
    assert config.push.concurrency == 16
    assert config.push.rate_limit == 0.0
    assert config.push.max_attempts == 3
    assert config.push.backoff_initial == 0.25
    assert config.push.backoff_max == 4.0


def test_numbers_are_typed(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, FULL))
    assert isinstance(config.api.read_timeout, float)
    assert isinstance(config.push.rate_limit, float)
    assert isinstance(config.push.backoff_max, float)
    assert type(config.push.concurrency) is int
    assert type(config.push.max_attempts) is int


def test_the_repository_config_yaml_is_valid_and_matches_the_defaults() -> None:
    repo_config = Path(__file__).resolve().parent.parent / "config.yaml"
    if not repo_config.is_file():
        pytest.skip("no config.yaml at the repository root")
    config = load_config(repo_config)
    assert config.api == ApiConfig()
    assert config.push == PushConfig()
    assert config.input.clear_marker == "<clear>"
    assert config.input.path == repo_config.parent / "sample_data" / "changes.csv"


# ---------------------------------------------------------------- paths


def test_relative_paths_resolve_against_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = write_config(folder, "input:\n  path: in.csv\nsnapshot:\n  path: s/snap.csv\n")
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.input.path == folder / "in.csv"
    assert config.snapshot.path == folder / "s" / "snap.csv"
    assert config.results.path == folder / "results" / "results.csv"


def test_a_relative_config_path_still_resolves_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    write_config(folder, "input:\n  path: in.csv\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/config.yaml"))
    assert config.input.path == folder / "in.csv"
    assert config.input.path.is_absolute()


def test_flag_paths_resolve_against_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    path = write_config(folder, "input:\n  path: in.csv\n")
    monkeypatch.chdir(cwd)
    config = load_config(
        path,
        {"input": "flag.csv", "snapshot": Path("st/snap.csv"), "results": str(tmp_path / "r.csv")},
    )
    assert config.input.path == cwd / "flag.csv"
    assert config.snapshot.path == cwd / "st" / "snap.csv"
    assert config.results.path == tmp_path / "r.csv"


# ---------------------------------------------------------------- overrides


def test_flag_overrides_beat_file_values(tmp_path: Path) -> None:
    path = write_config(tmp_path, FULL)
    config = load_config(
        path,
        {
            "input": str(tmp_path / "other.csv"),
            "snapshot": str(tmp_path / "snap2.csv"),
            "results": str(tmp_path / "res2.csv"),
            "base_url": "https://example.org/api/",
            "concurrency": 2,
            "rate_limit": 7.5,
        },
    )
    assert config.input.path == tmp_path / "other.csv"
    assert config.snapshot.path == tmp_path / "snap2.csv"
    assert config.results.path == tmp_path / "res2.csv"
    assert config.api.base_url == "https://example.org/api"
    assert config.push.concurrency == 2
    assert config.push.rate_limit == 7.5
    # Keys without a flag keep the file's values.
    assert config.push.max_attempts == 3
    assert config.input.clear_marker == "#clear"


def test_none_overrides_are_ignored(tmp_path: Path) -> None:
    path = write_config(tmp_path, FULL)
    config = load_config(path, dict.fromkeys(FLAG_KEYS))
    assert config == load_config(path)


def test_flag_overrides_beat_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {"concurrency": 32, "rate_limit": 0})
    assert config.push.concurrency == 32
    assert config.push.rate_limit == 0.0


def test_bad_flag_values_are_problems_naming_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    problems = problems_of(
        None, {"concurrency": 0, "rate_limit": -1, "base_url": "example.org"}
    )
    assert len(problems) == 3
    joined = "\n".join(problems)
    assert "--concurrency" in joined
    assert "--rate-limit" in joined
    assert "--base-url" in joined
    assert all(p.startswith("command line: --") for p in problems)


def test_flag_and_file_problems_are_reported_together(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push:\n  max_attempts: 0\n")
    problems = problems_of(path, {"concurrency": 0})
    assert len(problems) == 2
    assert any("push.max_attempts" in p for p in problems)
    assert any("--concurrency" in p for p in problems)


# ---------------------------------------------------------------- the default file


def test_config_yaml_in_the_cwd_is_picked_up_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command reads ./config.yaml without --config; the library reads only what it is given.
    write_config(tmp_path, "push:\n  concurrency: 11\ninput:\n  path: x.csv\n")
    monkeypatch.chdir(tmp_path)
    assert default_config_path() == Path("config.yaml")
    config = load_config(default_config_path())
    assert config.push.concurrency == 11
    assert config.input.path == tmp_path / "x.csv"
    assert load_config().push.concurrency == PushConfig().concurrency


def test_problems_in_the_default_file_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, "push:\n  concurrency: 0\n")
    monkeypatch.chdir(tmp_path)
    problems = problems_of(default_config_path())
    assert len(problems) == 1
    assert "config.yaml" in problems[0]
    assert "push.concurrency" in problems[0]


def test_a_folder_named_config_yaml_is_not_picked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.yaml").mkdir()
    monkeypatch.chdir(tmp_path)
    assert default_config_path() is None


# ---------------------------------------------------------------- problems, all at once


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ("push:\n  concurrency: 0\n", "push.concurrency", "whole number, at least 1"),
        ("push:\n  concurrency: 2.5\n", "push.concurrency", "whole number"),
        ("push:\n  concurrency: '4'\n", "push.concurrency", "whole number"),
        ("push:\n  concurrency: true\n", "push.concurrency", "whole number"),
        ("push:\n  max_attempts: 0\n", "push.max_attempts", "whole number, at least 1"),
        ("push:\n  max_attempts: false\n", "push.max_attempts", "whole number"),
        ("push:\n  rate_limit: -1\n", "push.rate_limit", "number at least 0"),
        ("push:\n  rate_limit: true\n", "push.rate_limit", "number"),
        ("push:\n  rate_limit: fast\n", "push.rate_limit", "number"),
        ("push:\n  backoff_initial: -0.5\n", "push.backoff_initial", "number at least 0"),
        ("push:\n  backoff_max: yes\n", "push.backoff_max", "number"),
        ("push:\n  rate_limit: .nan\n", "push.rate_limit", "number"),
        ("push:\n  backoff_max: .inf\n", "push.backoff_max", "number"),
        ("api:\n  read_timeout: .inf\n", "api.read_timeout", "number"),
        ("api:\n  connect_timeout: .nan\n", "api.connect_timeout", "number"),
        ("api:\n  connect_timeout: 0\n", "api.connect_timeout", "number greater than 0"),
        ("api:\n  read_timeout: -3\n", "api.read_timeout", "number greater than 0"),
        ("api:\n  read_timeout: true\n", "api.read_timeout", "number"),
        ("api:\n  base_url: sms-api.huduma.cloud\n", "api.base_url", "URL"),
        ("api:\n  base_url: ftp://example.org\n", "api.base_url", "URL"),
        ("api:\n  base_url: https://\n", "api.base_url", "URL"),
        ("api:\n  base_url: 42\n", "api.base_url", "URL"),
        ("api:\n  token_env: ''\n", "api.token_env", "non-empty text"),
        ("api:\n  token_env: 12\n", "api.token_env", "non-empty text"),
        ("input:\n  empty_cells: maybe\n", "input.empty_cells", "one of: unchanged, clear"),
        ("input:\n  clear_marker: ''\n", "input.clear_marker", "non-empty text"),
        ("input:\n  clear_marker: ' x '\n", "input.clear_marker", "without surrounding spaces"),
        ("input:\n  path: ''\n", "input.path", "file path"),
        ("input:\n  path: 12\n", "input.path", "file path"),
        ("snapshot:\n  path: [a, b]\n", "snapshot.path", "file path"),
        ("results:\n  path: {a: 1}\n", "results.path", "file path"),
    ],
)
def test_each_bad_value_is_a_problem_naming_file_key_and_expectation(
    tmp_path: Path, body: str, key: str, expected: str
) -> None:
    path = write_config(tmp_path, body, name="job.yaml")
    problems = problems_of(path)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert "job.yaml" in problem
    assert f": {key}: " in problem
    assert "expected" in problem and expected in problem


def test_a_bad_value_quotes_what_was_given(tmp_path: Path) -> None:
    path = write_config(tmp_path, "input:\n  empty_cells: maybe\n")
    [problem] = problems_of(path)
    assert problem == (
        f"{path}: input.empty_cells: expected one of: unchanged, clear, got 'maybe'"
    )


def test_unknown_section_is_a_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, "apis:\n  base_url: https://x.org\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: apis: unknown section")
    assert "api, input, snapshot, results, push" in problem


def test_unknown_key_is_a_problem_listing_known_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push:\n  concurency: 4\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: push.concurency: unknown key")
    assert "concurrency" in problem and "rate_limit" in problem and "backoff_max" in problem


def test_a_section_that_is_not_a_mapping_is_a_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push: 4\napi: [a, b]\n")
    problems = problems_of(path)
    assert len(problems) == 2
    assert any("push: expected a mapping" in p for p in problems)
    assert any("api: expected a mapping" in p for p in problems)


def test_backoff_initial_above_backoff_max_is_a_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push:\n  backoff_initial: 10\n  backoff_max: 2\n")
    [problem] = problems_of(path)
    assert str(path) in problem
    assert "push.backoff_initial" in problem and "push.backoff_max" in problem
    assert "(10)" in problem and "(2)" in problem


def test_backoff_initial_above_the_default_max_is_a_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push:\n  backoff_initial: 31\n")
    [problem] = problems_of(path)
    assert "push.backoff_initial" in problem and "(30)" in problem


def test_backoff_initial_equal_to_max_is_fine(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push:\n  backoff_initial: 3\n  backoff_max: 3\n")
    assert load_config(path).push.backoff_initial == 3.0


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        api:
          base_url: not-a-url
          read_timeout: true
          colour: blue
        input:
          empty_cells: maybe
        push:
          concurrency: 0
          rate_limit: -5
          max_attempts: yes
          backoff_initial: 5
          backoff_max: 1
        extras:
          a: 1
        """,
        name="broken.yaml",
    )
    problems = problems_of(path)
    keys = [
        "api.base_url",
        "api.read_timeout",
        "api.colour",
        "input.empty_cells",
        "push.concurrency",
        "push.rate_limit",
        "push.max_attempts",
        "push.backoff_initial (5) must not exceed push.backoff_max (1)",
        "extras",
    ]
    for key in keys:
        assert sum(key in p for p in problems) >= 1, (key, problems)
    assert len(problems) == len(keys)
    assert all(p.startswith(f"{path}: ") for p in problems)


def test_config_error_message_lists_every_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push:\n  concurrency: 0\n  rate_limit: -1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert isinstance(error, StartupError)
    assert len(error.problems) == 2
    for problem in error.problems:
        assert problem in str(error)


# ---------------------------------------------------------------- the file itself


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "api:\n  base_url: https://x.org\npush:\n  concurrency: [4\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: not valid YAML")
    assert "line " in problem
    line = int(problem.split("line ")[1].split(",")[0])
    assert line in (4, 5)  # the unclosed bracket's line, or the end of the file


def test_invalid_yaml_bad_indentation_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "push:\n  concurrency: 4\n   rate_limit: 2\n")
    [problem] = problems_of(path)
    assert "not valid YAML (line 3, column" in problem


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write_config(tmp_path, "- api\n- push\n")
    [problem] = problems_of(path)
    assert str(path) in problem and "mapping" in problem


def test_missing_config_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    [problem] = problems_of(path)
    assert str(path) in problem and "cannot read" in problem


def test_non_utf8_config_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("input:\n  clear_marker: \"caf\xe9\"\n".encode("latin-1"))
    [problem] = problems_of(path)
    assert str(path) in problem and "UTF-8" in problem


# ---------------------------------------------------------------- reading options (issue 3)


def test_input_reading_options_are_read(tmp_path: Path) -> None:
    path = write_config(tmp_path, """\
        input:
          encoding: CP1252
          delimiter: tab
          sheet: Contacts
          phone_check: valid
          columns:
            Simu: number
            Kitambulisho: contactId
        """)
    config = load_config(path)
    assert config.input.encoding == "cp1252"
    assert config.input.delimiter == "\t"
    assert config.input.sheet == "Contacts"
    assert config.input.phone_check == "valid"
    assert dict(config.input.columns) == {"Simu": "number", "Kitambulisho": "contactId"}


def test_input_reading_options_default_to_working_it_out(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "input: {}\n"))
    assert (config.input.encoding, config.input.delimiter, config.input.sheet) == (
        None, None, None)
    assert config.input.phone_check == "possible" and dict(config.input.columns) == {}


def test_bad_reading_options_are_all_reported(tmp_path: Path) -> None:
    path = write_config(tmp_path, """\
        input:
          encoding: klingon-8
          delimiter: "#"
          phone_check: strict
          columns:
            Simu: phone
        """)
    problems = problems_of(path)
    assert len(problems) == 4
    assert any("input.encoding" in p and "utf-16" in p for p in problems)
    assert any("input.delimiter" in p and '"tab"' in p for p in problems)
    assert any("input.phone_check" in p and "possible, valid, format" in p for p in problems)
    assert any("input.columns" in p and "contactId, names, number, email" in p
               for p in problems)


def test_sheet_flag_overrides_the_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, "input:\n  sheet: First\n")
    assert load_config(path, {"sheet": "Second"}).input.sheet == "Second"


# ---------------------------------------------------------------- a Config built in Python


def test_a_config_built_in_python_is_checked_as_config_yaml_is() -> None:
    with pytest.raises(ConfigError) as caught:
        PushConfig(concurrency=0, rate_limit=-1, backoff_initial=5.0)
    assert caught.value.problems == [
        "push.concurrency: expected a whole number, at least 1 and at most 256, got 0",
        "push.rate_limit: expected a number at least 0 and at most 10000, got -1",
    ]
    with pytest.raises(ConfigError, match=r"must not exceed push\.backoff_max"):
        PushConfig(backoff_initial=60.0, backoff_max=30.0)
    with pytest.raises(ConfigError, match=r"api\.base_url: expected the API's base URL alone"):
        ApiConfig(base_url="https://user:secret@sms-api.huduma.cloud/api/v3")
    with pytest.raises(ConfigError, match="api: expected a ApiConfig"):
        Config(api={"base_url": "https://x.example"})  # type: ignore[arg-type]


def test_a_config_built_in_python_gets_the_same_normal_forms() -> None:
    config = Config(input=InputConfig(delimiter="tab", encoding="UTF8", path="changes.csv"),
                    push=PushConfig(rate_limit=5, max_changes="10%"))
    assert config.input.delimiter == "\t" and config.input.encoding == "utf-8"
    assert config.input.path == Path("changes.csv")
    assert config.push.rate_limit == 5.0 and config.push.max_changes is not None
    assert config.push.max_changes.percent == 10
    assert Config().push == load_config().push and Config().api == load_config().api
