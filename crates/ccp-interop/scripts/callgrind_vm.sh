#!/usr/bin/env bash
# Instructions per ACK of our VM (ccp_lang::vm) and of the C libccp, counted with
# valgrind's callgrind on the `vm_vs_libccp` bench binary (deterministic, unlike wall
# clock on a shared machine).
#
# For each implementation the binary runs twice with the same setup (portus compile,
# INSTALL, CHANGE_PROG, generation of N ACKs): once feeding the N ACKs to the
# implementation, once not (baseline). (Ir(run) - Ir(baseline)) / N is the cost per ACK,
# including the primitive hand-over, the cwnd/rate callbacks and MEASURE encoding.
#
# Usage: crates/ccp-interop/scripts/callgrind_vm.sh [N]   (default N = 200000)
# Needs: valgrind, jq. Uses CARGO_TARGET_DIR if set.
set -euo pipefail
cd "$(dirname "$0")/../../.."
N="${1:-200000}"

BIN=$(cargo bench -p ccp-interop --bench vm_vs_libccp --no-run --message-format=json 2>/dev/null \
  | jq -r 'select(.reason == "compiler-artifact" and .target.name == "vm_vs_libccp") | .executable' \
  | tail -n 1)
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "could not build the vm_vs_libccp bench binary" >&2
  exit 1
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# Total instructions (Ir) of one run.
ir() {
  local impl=$1 n=$2 process=$3 f="$OUT/cg.$1.$3"
  valgrind --tool=callgrind --callgrind-out-file="$f" "$BIN" --callgrind "$impl" "$n" "$process" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$f"
}

printf '| implementation      | %-14s | Ir (baseline) | instructions/ACK |\n' "Ir ($N ACKs)"
printf '|---------------------|----------------|---------------|------------------|\n'
declare -A PER
for impl in vm libccp; do
  full=$(ir "$impl" "$N" 1)
  base=$(ir "$impl" "$N" 0)
  per=$(awk -v a="$full" -v b="$base" -v n="$N" 'BEGIN { printf "%.1f", (a - b) / n }')
  PER[$impl]=$per
  name=$([ "$impl" = vm ] && echo "ccp_lang::vm (Rust)" || echo "libccp 1.2 (C)")
  printf '| %-19s | %14s | %13s | %16s |\n' "$name" "$full" "$base" "$per"
done
awk -v a="${PER[vm]}" -v b="${PER[libccp]}" 'BEGIN { printf "\nratio vm/libccp: %.3f (goal <= 0.5)\n", a / b }'
