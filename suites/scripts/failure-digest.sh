#!/bin/bash
# failure-digest.sh LOG: the failed specs of a Ginkgo -v log, each with the
# lines that say why (its failure message, the gate's verdict or error,
# each failed check with its measurement),
# printed last and short so that the tail of a CI log holds them.
set -euo pipefail
log=${1:?usage: failure-digest.sh LOG}
echo
echo "=== failed specs (full log: $log) ==="
awk '
	/^• \[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED)\]/ { on = 1; n = 0; title = 1; msg = 0; next }
	!on { next }
	/^------------------------------/ { on = 0; next }
	title { print "* " substr($0, 1, 300); title = 0; next }
	/^  \[(FAILED|PANICKED|TIMEDOUT)\]/ && !msg { print "  " substr($0, 3, 300); msg = 1; n++; next }
	/ERROR: |^ *chaosgate: |FAILED: SLO|PASSED: every|INTERRUPTED: | FAIL: / && n < 14 { sub(/^ +/, ""); print "    " substr($0, 1, 300); n++ }
' "$log"
