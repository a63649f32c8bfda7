"""waiting.wait_until: the bounded polling loop every module that waits uses."""

from ansible_collections.apiplatform.ha.plugins.module_utils import waiting


def test_wait_until_is_bounded():
    now = [0.0]
    calls = []

    def predicate():
        calls.append(now[0])
        return len(calls) == 3

    assert waiting.wait_until(
        predicate, 10, interval=1, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    assert calls == [0.0, 1.0, 2.0]
    now[0] = 0.0
    never = waiting.wait_until(lambda: False, 2.5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert not never
    assert now[0] == 2.5


def test_wait_until_returns_the_last_value_and_calls_once_more_at_the_deadline():
    now = [0.0]
    calls = []

    def sleep(s):
        now[0] += s

    def never():
        calls.append(now[0])
        return False

    assert waiting.wait_until(never, 3, interval=1, clock=lambda: now[0], sleep=sleep) is False
    assert calls == [0.0, 1.0, 2.0, 3.0]
    assert waiting.wait_until(lambda: "ok", 3, clock=lambda: now[0], sleep=sleep) == "ok"
