#!/usr/bin/env bash
# format.sh - reformat every C/C++ source under src/ include/ tests/ with
# .clang-format, in place: the fix for a failing format check in
# scripts/test.sh. With --check, only report (exit 1 if any would change).
set -euo pipefail

cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- src include tests |
	grep -E '\.(c|h|cc|cpp|hpp)$')
if [ "${1:-}" = --check ]; then
	exec clang-format --dry-run --Werror "${files[@]}"
fi
clang-format -i "${files[@]}"
echo "format: ${#files[@]} files formatted"
