#!/usr/bin/env bash
# Checks the runtime stage of deploy/docker/Dockerfile without building the image (no container
# engine or base image is needed): every shared library the built binaries load, and every data
# file the engine reads from a Debian path (kDebian*Path in worker/engine/dataset/), must come from
# a package the stage installs, one those depend on, or one in the debian:12 base image (the
# "required" packages). Runs on a Debian 12 build machine, where dpkg knows the same packages.
#   image_packages_test.sh SOURCE_DIR BINARY...
set -euo pipefail
src=${1:?usage: image_packages_test.sh SOURCE_DIR BINARY...}
shift
(($#)) || { echo "usage: image_packages_test.sh SOURCE_DIR BINARY..." >&2; exit 2; }
dockerfile=$src/deploy/docker/Dockerfile
command -v dpkg-query >/dev/null || { echo "needs dpkg (a Debian build machine)" >&2; exit 2; }

# The packages the last stage installs: the words after `apt-get install` up to `&&`, options
# dropped, continuation lines joined.
installed=$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END{printf "%s", stage}' "$dockerfile" |
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
  grep -o 'apt-get install[^&]*' | sed 's/apt-get install//' | tr -s ' \t' '\n' | grep -v '^-' |
  grep -v '^$' || true)
[ -n "$installed" ] || { echo "FAIL: no apt-get install in the last stage of $dockerfile" >&2; exit 1; }

# What they pull in: Depends and Pre-Depends, recursively, as dpkg records them here (for an
# alternative "a | b", the first, which apt prefers). One dpkg-query for every package: one call
# per package would take minutes.
declare -A deps=() closure=()
while IFS=$'\t' read -r p d prio; do
  deps[$p]=$d
  # The base image: Debian's "required" packages (debian:12 is built from them and apt).
  [ "$prio" = required ] && closure[$p]=1
done < <(dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\t${Priority}\n')
queue=(apt)
for p in $installed; do
  [ -n "${deps[$p]+known}" ] || {
    echo "FAIL: the Dockerfile installs '$p', which is not a package dpkg knows here" >&2
    exit 1
  }
  queue+=("$p")
done
declare -A seen=()
while ((${#queue[@]})); do
  p=${queue[0]}
  queue=("${queue[@]:1}")
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  closure[$p]=1
  while IFS= read -r d; do
    d=${d%%|*}
    d=$(sed -e 's/([^)]*)//g' -e 's/:any//' -e 's/[[:space:]]//g' <<<"$d")
    [ -n "$d" ] && [ -z "${seen[$d]:-}" ] && queue+=("$d")
  done < <(tr ',' '\n' <<<"${deps[$p]:-}")
done

# Every file those packages install, spelled without /usr (merged /usr: /lib is /usr/lib).
declare -A provided=()
while IFS= read -r f; do
  f=${f#/usr}
  [ -n "$f" ] && provided[$f]=1
done < <(dpkg-query -L "${!closure[@]}" 2>/dev/null)

failures=0
check() {  # check WHAT FILE
  local f=${2#/usr} owners
  [ -n "${provided[$f]:-}" ] && return
  f=$(realpath "$2")
  f=${f#/usr}
  [ -n "${provided[$f]:-}" ] && return
  owners=$(dpkg-query -S "$2" "$(realpath "$2")" 2>/dev/null | sed 's/: .*//' | sort -u |
    tr '\n' ' ' || true)
  if [ -z "$owners" ]; then
    echo "FAIL: $1 $2 belongs to no Debian package: the image cannot have it" >&2
  else
    echo "FAIL: $1 $2 comes from ${owners}which the Dockerfile's runtime stage does not" \
      "install" >&2
  fi
  failures=$((failures + 1))
}

libraries=0
for bin in "$@"; do
  [ -x "$bin" ] || { echo "FAIL: $bin is not an executable" >&2; exit 1; }
  if ldd "$bin" | grep -q 'not found'; then
    echo "FAIL: $bin has libraries ldd cannot find: $(ldd "$bin" | grep 'not found')" >&2
    exit 1
  fi
  while read -r lib; do
    check "$(basename "$bin") loads" "$lib"
    libraries=$((libraries + 1))
  done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
done

data_files=0
paths=$(grep -ho 'kDebian[A-Za-z]*Path\[\] = "[^"]*"' "$src"/worker/engine/dataset/*.h |
  sed 's/.*= "\(.*\)"/\1/')
[ -n "$paths" ] || { echo "FAIL: no kDebian*Path in worker/engine/dataset/*.h" >&2; exit 1; }
for dir in $paths; do
  [ -d "$dir" ] || { echo "FAIL: $dir is missing here (scripts/setup installs it)" >&2; exit 1; }
  while IFS= read -r -d '' f; do
    check "the data file" "$f"
    data_files=$((data_files + 1))
  done < <(find "$dir" -type f -print0)
done

if ((failures)); then
  echo "$failures file(s) the image would lack" >&2
  exit 1
fi
echo "ok: $libraries libraries of $# binaries and $data_files data files under" \
  "$(tr '\n' ' ' <<<"$paths")come from the image's packages"
