# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bounded polling loop the collection's module_utils share (no Ansible import, unit-testable)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


def wait_until(predicate, timeout, interval=1.0, clock=None, sleep=None):
    """Call ``predicate()`` until it returns a truthy value or ``timeout`` seconds pass; return the last value.

    ``clock`` and ``sleep`` default to ``time.monotonic`` and ``time.sleep`` (tests pass fakes). The last sleep is
    cut to the time left, so the loop never runs past its deadline by more than one call of ``predicate``.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    while True:
        value = predicate()
        if value or clock() >= deadline:
            return value
        sleep(min(interval, max(0.0, deadline - clock())))
