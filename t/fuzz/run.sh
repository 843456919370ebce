#!/usr/bin/env bash
# Builds every t/fuzz/fuzz_*.c libFuzzer target (clang, ASan+UBSan) against
# the pure parsers in modules/ and runs each for SECONDS (default 30).
# Fails on any crash, leak or sanitizer report. Corpora: build-fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-30}
out=build-fuzz
mkdir -p "$out"
parsers=$(ls modules/sniff_*.c modules/*_wire.c modules/proxy_addr.c 2>/dev/null)
flags="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc -Imodules"
pass=0 fail=0
for src in t/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086
    clang $flags -o "$out/$name" "$src" $parsers $(pkg-config --cflags --libs openssl)
    mkdir -p "$out/corpus/$name"
    seeds=()
    [ -d "t/fuzz/seeds/${name#fuzz_}" ] && seeds=("t/fuzz/seeds/${name#fuzz_}")
    if "$out/$name" -max_total_time="$secs" -max_len=20000 -print_final_stats=1 \
        "$out/corpus/$name" "${seeds[@]}" >"$out/$name.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
        echo "ok - $name: ${runs:-?} inputs in ${secs}s, no findings"
        pass=$((pass + 1))
    else
        echo "not ok - $name: finding (see $out/$name.log)"
        tail -n 30 "$out/$name.log"
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
