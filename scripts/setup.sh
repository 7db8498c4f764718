#!/bin/sh
# Installs every Debian package that building, testing and benchmarking lienthong need.
# Idempotent: does nothing (and needs no network) when everything is already installed.
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libmicrohttpd-dev libcurl4-openssl-dev libxml2-dev libsqlite3-dev sqlite3 libjansson-dev libssl-dev
libcmocka-dev python3 wrk"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "setup: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
