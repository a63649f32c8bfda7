#!/usr/bin/env bash
# Run `molecule test` for each scenario named on the command line. On a failure, repeat the failed tasks (and what
# follows each, bounded) at the end of the output, so that a CI log cut to its last lines still names the cause.
set -uo pipefail
for scenario in "$@"; do
    log=$(mktemp "/tmp/molecule-${scenario}.XXXXXX.log")
    molecule test -s "$scenario" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo
        echo "=== molecule scenario '$scenario' failed (rc $rc); its failed tasks, from $log ==="
        # The task header before each failure and at most 40 lines of it; at most 200 lines in all.
        # Colours and molecule's box-drawing prefix are stripped first.
        sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^[[:space:]]*│ \{0,1\}//' "$log" \
            | awk '/^TASK \[/ {task=$0} /^(fatal|failed): / {print "---"; print task; n=40} n>0 {print; n--}' \
            | head -n 200
        exit "$rc"
    fi
    rm -f "$log"
done
