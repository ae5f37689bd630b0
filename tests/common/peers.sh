# peers.sh - honest results for the shell tests (sourced): the same rules
# as tests/common/mtest.h.
#
#   skip REASON...        print "skipped: REASON" and exit 77 (a privilege
#                         or kernel feature is missing: also a skip in CI)
#   need_peer TOOL...     return if every TOOL is on $PATH; otherwise exit
#                         77, or 1 under CI=true (scripts/deps.sh installs
#                         every peer, so a missing one in CI is a bug)
#   in_ci                 true under CI=true (or CI=1)

skip() {
	echo "skipped: $*"
	exit 77
}

in_ci() {
	[ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]
}

need_peer() {
	for _peer in "$@"; do
		command -v "$_peer" >/dev/null 2>&1 && continue
		if in_ci; then
			echo "FAIL: the peer program $_peer is not installed;" \
				"under CI=true a missing peer is a failure" \
				"(scripts/deps.sh installs it)"
			exit 1
		fi
		skip "the peer program $_peer is not installed" \
			"(scripts/deps.sh installs it; under CI=true this is a failure)"
	done
}
