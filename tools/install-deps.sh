#!/usr/bin/env bash
# Installs the Debian 12 packages that the build, the tests or the benchmarks need, when missing.
# Usage: tools/install-deps.sh [build|test|bench|all]   (default: build)
# `build` is what otfd, otf and otf-top need; `test` adds the test tools and GTK4 for otf-gui
# (without GTK4 the build skips otf-gui with a message).
# Needs root (or sudo) only when something is missing.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
    libmicrohttpd-dev libcurl4-openssl-dev libcfitsio-dev wcslib-dev libxml2-dev
    libsqlite3-dev libpq-dev libdnnl-dev libjansson-dev libinih-dev libncurses-dev
    libcmocka-dev libpng-dev libxmlrpc-core-c3-dev)
test_pkgs=(clang libclang-rt-14-dev clang-format python3 python3-lxml python3-astropy
    python3-pyvo python3-prov python3-regions python3-numpy stilts libxml2-utils curl tmux
    libgtk-4-dev xvfb xdotool imagemagick source-extractor python3-torch
    sqlite3)
bench_pkgs=(wrk python3-torch time)

want=()
case "${1:-build}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
all) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*)
    echo "usage: $0 [build|test|bench|all]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
