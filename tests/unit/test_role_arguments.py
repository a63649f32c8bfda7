"""Every role declares each public variable twice: in defaults/main.yml and in meta/argument_specs.yml.

The key sets must be equal (prometheus-community/ansible's lint_arguments_spec habit), every key must carry the
role's prefix, and every secret-looking option must be no_log.
"""

import pathlib

import pytest
import yaml

ROLES = sorted(p for p in (pathlib.Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())


def _spec_options(role):
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    return options


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_and_argument_specs_declare_the_same_variables(role):
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    options = _spec_options(role)
    assert set(defaults or {}) - set(options) == set(), "in defaults/main.yml but not in meta/argument_specs.yml"
    assert set(options) - set(defaults or {}) == set(), "in meta/argument_specs.yml but without a default"
    assert [k for k in options if not k.startswith(f"{role.name}_")] == [], "options must carry the role prefix"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_secret_options_are_no_log(role):
    secrets = [
        k
        for k in _spec_options(role)
        if k.endswith(("_password", "_secret", "_erlang_cookie", "_key_content", "_secret_environment"))
    ]
    assert [k for k in secrets if not _spec_options(role)[k].get("no_log")] == []
