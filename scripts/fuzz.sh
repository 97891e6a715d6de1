#!/usr/bin/env bash
# Builds the ClientRequestParser libFuzzer target (the Fuzz/ package, with -sanitize=fuzzer,address)
# and runs it for SECONDS seconds (default 60), starting from the seeds in Fuzz/corpus and the
# request grammar's words in Fuzz/ClientRequestParser.dict. Exits non-zero when the build fails or
# the fuzzer finds a crash (an invariant broken, an ASan report); the input that crashed is kept in
# Fuzz/.build/artifacts/ for a replay with `Fuzz/.build/debug/ClientRequestParserFuzz FILE`.
#
#   scripts/fuzz.sh 120
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/Fuzz"
flags=(-c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
swift build "${flags[@]}"
binary="$(swift build "${flags[@]}" --show-bin-path)/ClientRequestParserFuzz"

# libFuzzer adds what it learns to the first corpus directory: a scratch copy keeps the seeds clean.
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
cp "$root/Fuzz/corpus/"* "$corpus/"
mkdir -p "$root/Fuzz/.build/artifacts"
"$binary" \
    -max_total_time="$seconds" \
    -dict="$root/Fuzz/ClientRequestParser.dict" \
    -artifact_prefix="$root/Fuzz/.build/artifacts/" \
    -print_final_stats=1 \
    "$corpus"
