#!/usr/bin/env bash
# Benchmarks that print numbers; nothing here asserts anything about speed.
#
#   scripts/bench.sh
#
# 1. builds the release provider and runs `cargo bench --bench provider` (handshake latency,
#    codec throughput);
# 2. for each Terraform core in .tools/bin (terraform-1.0.3, terraform-1.15.5, or the colon-
#    separated list in FREETIER_TF_CORES) measures:
#    a. the provider's peak RSS during `apply` of 50 freetier_age_key resources (AutoMTLS on,
#       as Terraform runs it);
#    b. the provider's share of a no-change `plan`: plan wall time (hyperfine), and the
#       provider processes' CPU time (user+sys) and wall time per plan; with AutoMTLS, and
#       again in plaintext (TF_DISABLE_PLUGIN_TLS=1) for comparison.
#    The provider runs under a wrapper script: GNU time around the real binary during the
#    apply (peak RSS), and bash's `times` for CPU to the millisecond (GNU time truncates
#    %U/%S to 10 ms, too coarse for provider processes that use a few ms each).
# 3. prints a summary table.
#
# Knobs: FREETIER_BENCH_PLAN_RUNS (default 10), FREETIER_BENCH_COUNT (resources, default 50),
# FREETIER_BENCH_SKIP_CARGO=1 (skip step 1; the release binary must exist),
# FREETIER_PROVIDER_BIN=path (measure that provider binary instead, e.g. to compare builds;
# the cargo bench honours it too).
# Scratch files: target/bench-tmp/ (kept for inspection, replaced on the next run).
# Takes about 1 minute once the release build and the bench binary are up to date.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
if [[ -f .tools/env ]]; then
    # shellcheck disable=SC1091
    source .tools/env
fi

PLAN_RUNS=${FREETIER_BENCH_PLAN_RUNS:-10}
COUNT=${FREETIER_BENCH_COUNT:-50}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
BIN=${FREETIER_PROVIDER_BIN:-$TARGET_DIR/release/terraform-provider-freetier}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
SCRATCH=$ROOT/target/bench-tmp
mkdir -p "$SCRATCH"

say() { printf '\n== %s ==\n' "$*"; }
ms() { awk -v x="$1" 'BEGIN{printf "%.0f", x*1000}'; }

# --- tools ------------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    echo "GNU time is missing; installing it (apt-get install -y time)"
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
HAVE_HYPERFINE=1
command -v hyperfine >/dev/null || { HAVE_HYPERFINE=0; echo "hyperfine not found: timing plans with a shell loop"; }

# --- 1. cargo bench ---------------------------------------------------------------------------
if [[ ${FREETIER_BENCH_SKIP_CARGO:-0} != 1 ]]; then
    say "cargo build --release"
    cargo build --release -j2 --bin terraform-provider-freetier
    say "cargo bench --bench provider"
    FREETIER_PROVIDER_BIN=$BIN cargo bench -j2 --bench provider | tee "$SCRATCH/cargo-bench.txt"
fi
[[ -x $BIN ]] || { echo "error: $BIN is missing: run cargo build --release" >&2; exit 1; }

# --- 2. real Terraform cores ------------------------------------------------------------------
cores=()
if [[ -n ${FREETIER_TF_CORES:-} ]]; then
    IFS=: read -r -a cores <<<"$FREETIER_TF_CORES"
else
    for c in "$ROOT"/.tools/bin/terraform-1.0.3 "$ROOT"/.tools/bin/terraform-1.15.5; do
        if [[ -x $c ]]; then cores+=("$c"); fi
    done
fi
((${#cores[@]})) || { echo "error: no Terraform core in .tools/bin: run scripts/install-tools.sh" >&2; exit 1; }

export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0 TF_CLI_CONFIG_FILE=/dev/null
unset TF_LOG TF_LOG_PROVIDER TF_REATTACH_PROVIDERS TF_DISABLE_PLUGIN_TLS TF_PLUGIN_CACHE_DIR || true

# awk helper: bash `times` prints "0m0.021s"; secs() turns that into seconds.
AWK_SECS='function secs(t,   m) { m = t; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", t); sub(/s$/, "", t); return m * 60 + t }'

# Sums the provider records in $1, one file per provider process:
#   "maxrss_KB start_epoch end_epoch user sys"
# Prints: processes max_rss_KB sum_alive_s sum_user_s sum_sys_s
tally() {
    local files=()
    shopt -s nullglob
    files=("$1"/rec.*)
    shopt -u nullglob
    if ((${#files[@]} == 0)); then echo "0 0 0 0 0"; return; fi
    cat "${files[@]}" | awk "$AWK_SECS"'
        {n++; if ($1 > m) m = $1; w += $3 - $2; u += secs($4); s += secs($5)}
        END {printf "%d %d %.4f %.4f %.4f\n", n, m, w, u, s}'
}

# Times `plan` PLAN_RUNS times (hyperfine, or a loop) after one warm-up, and tallies the
# provider records of exactly the timed runs.
# Sets: p_median p_mean p_min p_max (s), p_n p_wall p_user p_sys (from tally).
measure_plan() {
    local tag=$1
    local plan=("$core" plan -no-color -input=false -detailed-exitcode)
    "${plan[@]}" >"$W/plan-warmup-$tag.log" 2>&1 || { echo "warm-up plan ($tag) is not empty or failed:"; cat "$W/plan-warmup-$tag.log"; exit 1; }
    rm -f "$W"/records/rec.*
    if ((HAVE_HYPERFINE)); then
        # -N: no shell in between; -detailed-exitcode makes a non-empty plan (exit 2) fail.
        hyperfine -N --runs "$PLAN_RUNS" --style basic --export-json "$W/plan-$tag.json" "${plan[*]}" >"$W/hyperfine-$tag.txt" 2>&1 ||
            { cat "$W/hyperfine-$tag.txt"; exit 1; }
        read -r p_median p_mean p_min p_max < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["median"], r["mean"], r["min"], r["max"])' "$W/plan-$tag.json")
    else
        local times=() i s e
        for ((i = 0; i < PLAN_RUNS; i++)); do
            s=$EPOCHREALTIME
            "${plan[@]}" >/dev/null 2>&1
            e=$EPOCHREALTIME
            times+=("$(awk -v a="$s" -v b="$e" 'BEGIN{print b-a}')")
        done
        read -r p_median p_mean p_min p_max < <(printf '%s\n' "${times[@]}" | sort -g |
            awk '{v[NR]=$1; t+=$1} END {m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, t/NR, v[1], v[NR]}')
    fi
    read -r p_n _ p_wall p_user p_sys < <(tally "$W/records")
}

# The "provider" Terraform launches: a wrapper around the real binary that writes one record
# per process ($$ is the wrapper's pid). CPU comes from bash's `times` (the children's user and
# sys to the millisecond; GNU time's %U/%S are truncated to 10 ms, too coarse for provider
# processes that use a few ms each). Peak RSS comes from GNU time (%M), which runs only when
# FREETIER_BENCH_RSS=1 (the apply pass; Terraform passes its environment on to providers): in
# the plan passes GNU time would count its own exec, ~1 ms a process, as provider CPU.
# GNU time, unlike a fork of a big parent, adds nothing to the provider's peak RSS (ru_maxrss
# survives exec). stdin/stdout/stderr are inherited, so the handshake passes straight through.
write_wrapper() {
    local out=$1 records=$2
    # shellcheck disable=SC2016 # the single-quoted lines are the wrapper's own code
    {
        echo '#!/bin/bash'
        echo "rec=$(printf %q "$records")/rec.\$\$"
        echo 'start=$EPOCHREALTIME'
        echo 'if [[ ${FREETIER_BENCH_RSS:-0} == 1 ]]; then'
        echo "    /usr/bin/time -f '%M' -o \"\$rec.time\" $(printf %q "$BIN") \"\$@\""
        echo 'else'
        echo "    $(printf %q "$BIN") \"\$@\""
        echo 'fi'
        echo 'rc=$?'
        echo 'end=$EPOCHREALTIME'
        echo 'times >"$rec.times"'
        echo '{ read -r _; read -r cu cs; } <"$rec.times"'
        echo 'rss=0'
        echo '[[ -f $rec.time ]] && rss=$(tail -n 1 "$rec.time")'
        echo 'echo "$rss $start $end $cu $cs" >"$rec"'
        echo 'rm -f "$rec.time" "$rec.times"'
        echo 'exit $rc'
    } >"$out"
    chmod +x "$out"
}

declare -a SUMMARY=()

for core in "${cores[@]}"; do
    name=$(basename "$core")
    ver=$("$core" version 2>/dev/null | head -n 1 || true)
    say "$name ($ver)"
    W=$SCRATCH/tf-$name
    [[ -n $name && $W == "$SCRATCH"/tf-* ]] || { echo "error: bad work dir $W" >&2; exit 1; }
    rm -rf "$W"
    mkdir -p "$W/work" "$W/records"
    pdir=$W/plugins/registry.terraform.io/freetier/freetier/0.1.0/linux_amd64
    mkdir -p "$pdir"
    write_wrapper "$pdir/terraform-provider-freetier_v0.1.0" "$W/records"
    printf '%s\n' \
        'terraform {' \
        '  required_providers {' \
        '    freetier = { source = "freetier/freetier" }' \
        '  }' \
        '}' \
        '' \
        'resource "freetier_age_key" "k" {' \
        "  count = $COUNT" \
        '}' >"$W/work/main.tf"
    cd "$W/work"
    "$core" init -no-color -input=false -plugin-dir="$W/plugins" >"$W/init.log" 2>&1 || { cat "$W/init.log"; exit 1; }

    # a. peak RSS during apply
    rm -f "$W"/records/rec.*
    t0=$EPOCHREALTIME
    FREETIER_BENCH_RSS=1 "$core" apply -no-color -input=false -auto-approve >"$W/apply.log" 2>&1 || { cat "$W/apply.log"; exit 1; }
    t1=$EPOCHREALTIME
    read -r a_n a_rss a_wall a_user a_sys < <(tally "$W/records")
    echo "apply of $COUNT freetier_age_key (AutoMTLS): $(ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')") ms wall, $a_n provider processes"
    echo "  per process:  maxrss_KB  alive_ms  user_ms  sys_ms"
    cat "$W"/records/rec.* | awk "$AWK_SECS"'{printf "              %9d  %8.0f  %7.0f  %6.0f\n", $1, ($3-$2)*1000, secs($4)*1000, secs($5)*1000}'
    echo "  provider processes together (CPU here includes GNU time's): $(awk -v w="$a_wall" -v u="$a_user" -v s="$a_sys" 'BEGIN{printf "%.0f ms CPU (user %.0f + sys %.0f), %.0f ms alive", 1000*(u+s), 1000*u, 1000*s, 1000*w}')"
    a_mib=$(awk -v k="$a_rss" 'BEGIN{printf "%.1f", k/1024}')
    echo "  provider peak RSS: $a_rss KB ($a_mib MiB)   (target ≤ 15 MB)"

    # b. the provider's share of a no-change plan, with AutoMTLS (Terraform's default) and,
    #    for comparison, plaintext.
    row=""
    for mode in tls plain; do
        if [[ $mode == plain ]]; then export TF_DISABLE_PLUGIN_TLS=1; fi
        measure_plan "$mode"
        unset TF_DISABLE_PLUGIN_TLS
        # Per plan: sums over the provider processes of all timed runs, divided by the runs.
        read -r cpu_pp wall_pp procs_pp share wshare < <(awk -v n="$PLAN_RUNS" -v np="$p_n" -v w="$p_wall" -v u="$p_user" -v s="$p_sys" -v pm="$p_mean" \
            'BEGIN {cpu=(u+s)/n; wall=w/n; printf "%.4f %.4f %.1f %.1f %.1f\n", cpu, wall, np/n, 100*cpu/pm, 100*wall/pm}')
        if [[ $mode == tls ]]; then label="AutoMTLS"; else label="plaintext (TF_DISABLE_PLUGIN_TLS=1)"; fi
        echo "no-change plan, $label, n=${PLAN_RUNS}: median $(ms "$p_median") ms, mean $(ms "$p_mean") ms, min $(ms "$p_min") ms, max $(ms "$p_max") ms"
        echo "  provider processes per plan: $procs_pp ($p_n over $PLAN_RUNS runs)"
        echo "  provider CPU (user+sys, summed over its processes) per plan: $(ms "$cpu_pp") ms  (user $(ms "$(awk -v u="$p_user" -v n="$PLAN_RUNS" 'BEGIN{print u/n}')"), sys $(ms "$(awk -v s="$p_sys" -v n="$PLAN_RUNS" 'BEGIN{print s/n}')"))"
        echo "  provider alive time (summed over its processes) per plan: $(ms "$wall_pp") ms"
        echo "  share = provider CPU / plan wall (mean) = ${share} %$([[ $mode == tls ]] && echo '   (target ≤ 10 %)')"
        echo "  provider alive / plan wall = ${wshare} %   (context only: a provider process stays alive while Terraform"
        echo "    works between RPCs, so this bounds what the provider could cost; it is not its cost)"
        if [[ $mode == tls ]]; then
            row=$(printf '%-17s %7s %6s %6s %8s %8s %9s %7s %7s' "$name" "$a_mib" "$a_n" "$procs_pp" \
                "$(ms "$p_median")" "$(ms "$cpu_pp")" "$(ms "$wall_pp")" "$share" "$wshare")
        else
            row+=$(printf ' | %8s %8s %7s' "$(ms "$p_median")" "$(ms "$cpu_pp")" "$share")
        fi
    done
    cd "$ROOT"
    SUMMARY+=("$row")
done

# --- 3. summary -------------------------------------------------------------------------------
say "summary"
if [[ -f $SCRATCH/cargo-bench.txt && ${FREETIER_BENCH_SKIP_CARGO:-0} != 1 ]]; then
    sed -n '/^== summary ==/,$p' "$SCRATCH/cargo-bench.txt" | tail -n +2
    echo
fi
fmt='%-17s %7s %6s %6s %8s %8s %9s %7s %7s | %8s %8s %7s\n'
echo "                  ---- apply ---- ----------- no-change plan, AutoMTLS ------------   -- plan, plaintext ---"
# shellcheck disable=SC2059
printf "$fmt" core "RSS" procs procs "plan" "prov" "prov" "CPU %" "alive %" "plan" "prov" "CPU %"
# shellcheck disable=SC2059
printf "$fmt" "" "MiB" "" "/plan" "ms med" "CPU ms" "alive ms" "of plan" "of plan" "ms med" "CPU ms" "of plan"
for row in "${SUMMARY[@]}"; do echo "$row"; done
echo
echo "targets: AutoMTLS handshake median ≤ 10 ms; provider peak RSS ≤ 15 MB; provider CPU ≤ 10 % of a no-change plan."
echo "CPU and alive times are per plan, summed over the provider processes Terraform starts for it. Records: $SCRATCH/tf-*/"
