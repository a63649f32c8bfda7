"""exit_json and fail_json raise, so that tests of a module's main() assert with pytest.raises (STYLE.md):
a bare try/except would pass silently when nothing is raised."""

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def patch_exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def run_module(main, args, check_mode=False, diff=False):
    """Run a module's main() with these arguments (and check/diff mode) under patched module args."""
    with patch_module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)):
        main()


def exit_result(main, args, **kwargs):
    """The keyword arguments main() passed to exit_json; the test fails if it did not exit that way."""
    with pytest.raises(ExitJson) as exc:
        run_module(main, args, **kwargs)
    return exc.value.args[0]


def fail_message(main, args, **kwargs):
    """The message main() passed to fail_json; the test fails if it did not fail that way."""
    with pytest.raises(FailJson) as exc:
        run_module(main, args, **kwargs)
    return exc.value.args[0]["msg"]
