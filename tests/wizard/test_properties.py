"""Property-based tests: no TOML text crashes kubeha, no accepted value can inject a line or
a config metacharacter into a rendered file, and no string field of an example profile accepts a
blank or control character (a trailing newline once passed ``$``-anchored patterns)."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.examples import example_profile
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.problems import errors_in
from wizard.profile import Profile
from wizard.profile_io import parse_profile_text, profile_from_dict, profile_to_dict
from wizard.render import build_plan
from wizard.strategies import registry
from wizard.validation import validate

META = set("\n\r\t \"'{};#`$\\")

nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "10.0.0.1\nserver evil:1;",
            "10.0.0.1; }",
            "eth0\n}",
            '/readyz"',
            "/readyz;",
            "/r{",
            "m1 m2",
            "a#b",
            "$(reboot)",
            "`id`",
            "::1",
            "fd00::1",
            "10.0.0.9",
            "node-1",
            "/opt/x",
        ]
    ),
)
scalars = st.one_of(
    nasty_text, st.integers(-5, 70000), st.booleans(), st.floats(allow_nan=False), st.none()
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_yields_profile_or_problems(text):
    result = parse_profile_text(text)
    assert (result.profile is None) == bool(result.problems) or result.profile is not None


toml_values = st.recursive(
    scalars.filter(lambda v: v is not None),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "name",
        "strategy",
        "masters",
        "workers",
        "lb_nodes",
        *registry.sections(),
        "health_check",
        "install",
        "ssh",
        "schema_version",
        "address",
        "bogus",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, toml_values, max_size=8))
def test_any_toml_document_yields_profile_or_problems(data):
    result = parse_profile_text(tomli_w.dumps(data))
    if result.profile is not None:
        validate(result.profile)  # never raises either


def _mutate(profile: Profile, path: tuple, value) -> dict:
    data = profile_to_dict(profile)
    target = data
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[path[-1]] = value
    return data


FIELDS = [
    ("name",),
    ("masters", 0, "name"),
    ("masters", 1, "address"),
    ("workers", 0, "address"),
    # every text setting of every strategy's section
    *(
        (s.section, f.name)
        for s in registry.strategies()
        for f in s.fields()
        if f.kind in ("str", "choice")
    ),
    ("health_check", "path"),
    ("install", "prefix"),
    ("ssh", "user"),
]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(registry.names()),
    st.sampled_from(FIELDS),
    nasty_text,
)
def test_no_accepted_value_reaches_a_file_with_a_metacharacter(strategy, path, value):
    base = example_profile(strategy)
    result = profile_from_dict(_mutate(base, path, value))
    if result.profile is None or errors_in(validate(result.profile)):
        return  # refused: that is the point
    profile = result.profile
    data = profile_to_dict(profile)
    inactive = set(profile.set_aside)  # other strategies' tables: set aside, never rendered
    for text in _strings({k: v for k, v in data.items() if k not in inactive}):
        assert not set(text) & META, text
    plan = build_plan(profile)
    baseline = build_plan(base)
    for node_plan, base_plan in zip(plan.nodes, baseline.nodes, strict=True):
        for rendered, base_file in zip(node_plan.files, base_plan.files, strict=True):
            # Same structure: a value never adds or removes a line.
            assert rendered.content.count("\n") == base_file.content.count("\n")


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 9), st.integers(0, 5))
def test_node_counts_render(masters, workers):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        masters=tuple(
            dataclasses.replace(base.masters[0], name=f"m{i}", address=f"10.1.0.{i}")
            for i in range(1, masters + 1)
        ),
        workers=tuple(
            dataclasses.replace(base.workers[0], name=f"w{i}", address=f"10.2.0.{i}")
            for i in range(1, workers + 1)
        ),
    )
    plan = build_plan(profile)
    assert len(plan.nodes) == masters + workers
    conf = plan.nodes[0].files[0].content
    assert conf.count(" max_fails=") == masters


# --- issue 12: every string field of every example profile is held whole ----------------------
EXAMPLE_FILES = sorted(EXAMPLE_PROFILES_DIR.glob("*.toml"))


def _string_paths(value, path=()):
    """(path, text) of every string in parsed TOML, arrays included; a path mixes keys and
    indexes, e.g. ("masters", 1, "address") or ("install", "configure_flags", 0)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))


def _field(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _documents():
    """Each example's TOML as written, and as kubeha writes it back (defaults filled in, so
    install.prefix and configure_flags are walked too)."""
    for file in EXAMPLE_FILES:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
        yield file.stem, data
        yield f"{file.stem} (saved)", profile_to_dict(profile_from_dict(data).profile)


STRING_FIELDS = [(name, path) for name, data in _documents() for path, _ in _string_paths(data)]
DOCUMENTS = dict(_documents())


def _with(data, path, change):
    data = tomllib.loads(tomli_w.dumps(data))  # a deep copy
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = change(target[path[-1]])
    return data


def _problem_fields(data) -> set[str]:
    result = parse_profile_text(tomli_w.dumps(data))
    problems = result.problems if result.profile is None else validate(result.profile)
    return {p.field for p in problems if p.is_error}


def test_the_walk_sees_every_kind_of_field():
    fields = {_field(path) for _, path in STRING_FIELDS}
    assert len(EXAMPLE_FILES) == 4
    assert fields >= {
        "name",
        "strategy",
        "masters[0].address",
        "workers[1].name",
        "haproxy_keepalived.vip",
        "ipvs.apiserver_hostname",
        "local_nginx.apiserver_hostname",
        "local_haproxy.apiserver_hostname",
        "install.configure_flags[0]",
        "ssh.user",
    }


@pytest.mark.parametrize("suffix", ["\n", "\r", " ", "\t"])
@pytest.mark.parametrize(
    ("document", "path"), STRING_FIELDS, ids=lambda v: _field(v) if isinstance(v, tuple) else v
)
def test_every_string_field_refuses_a_trailing_blank(document, path, suffix):
    data = _with(DOCUMENTS[document], path, lambda text: text + suffix)
    assert _field(path) in _problem_fields(data)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(STRING_FIELDS),
    st.text(alphabet=st.characters(categories=["Cc", "Zs", "Zl", "Zp"]), min_size=1, max_size=3),
    st.sampled_from(["prefix", "suffix", "inside"]),
)
def test_blanks_and_controls_anywhere_in_a_string_field_are_refused(field, blank, where):
    document, path = field

    def change(text: str) -> str:
        if where == "prefix":
            return blank + text
        if where == "suffix":
            return text + blank
        return text[:1] + blank + text[1:]

    data = _with(DOCUMENTS[document], path, change)
    assert _field(path) in _problem_fields(data)
