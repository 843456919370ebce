#!/usr/bin/env bash
# Runs every t/integration/NN-*.sh scenario in order (or those named on the
# command line), each with a time limit, and prints one closing line
# "N passed, N failed, N skipped". Exit 77 from a scenario means skipped
# (not root / no netns); CI runs as root, so there nothing may skip unless
# TPI_ALLOW_SKIP=1.
set -u
cd "$(dirname "$0")" || exit 1
limit=${TPI_TIMEOUT:-600}
pass=0 fail=0 skip=0 failed=()
if [ $# -gt 0 ]; then tests=("$@"); else tests=([0-9][0-9]-*.sh); fi
for t in "${tests[@]}"; do
    t=$(basename "$t")
    start=$(date +%s)
    echo "=== $t"
    timeout --kill-after=10 "$limit" bash "./$t"
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
        0)  pass=$((pass + 1)); echo "=== PASS $t (${secs}s)" ;;
        77) if [ "$(id -u)" = 0 ] && [ "${TPI_ALLOW_SKIP:-0}" != 1 ]; then
                fail=$((fail + 1)); failed+=("$t (skipped as root)")
                echo "=== FAIL $t: skipped although running as root"
            else
                skip=$((skip + 1)); echo "=== SKIP $t"
            fi ;;
        *)  fail=$((fail + 1)); failed+=("$t (rc $rc)")
            echo "=== FAIL $t (rc $rc, ${secs}s)" ;;
    esac
done
echo
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
echo "integration: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
