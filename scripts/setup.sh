#!/bin/sh
# Installs every Debian package that building, testing and benchmarking lienthong need.
# Idempotent: does nothing (and needs no network) when everything is already installed.
#
# nginx is only a benchmark tool (bench/gateway.sh starts its own instances from generated
# configurations, as an ordinary user, on 127.0.0.1): the system service that the package would
# start on port 80 of every interface is prevented from starting during the installation
# (policy-rc.d answering 101 = "action forbidden") and stopped and disabled if it runs anyway.
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libmicrohttpd-dev libcurl4-openssl-dev libxml2-dev libsqlite3-dev sqlite3 libjansson-dev libssl-dev
libcmocka-dev libxmlsec1-dev libxmlsec1-openssl xmlsec1 python3 wrk nginx"
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

# Keep services from starting while packages are installed, unless a policy is already in place
# (then it is left as it is); ours is removed afterwards, also on failure.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [ ! -e "$POLICY" ]; then
    $SUDO sh -c "printf '#!/bin/sh\n# lienthong scripts/setup.sh: no service starts during install\nexit 101\n' >$POLICY && chmod 755 $POLICY"
    OWN_POLICY=1
fi
remove_policy() {
    if [ "$OWN_POLICY" = 1 ]; then
        $SUDO rm -f "$POLICY"
        OWN_POLICY=0
    fi
}
trap remove_policy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
remove_policy

# If the nginx service started all the same (another policy, or systemd socket/unit state), stop
# it and keep it from starting at boot.
case "$missing" in
*" nginx"*)
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now nginx.service >/dev/null 2>&1 || true
    else
        command -v update-rc.d >/dev/null 2>&1 && $SUDO update-rc.d nginx disable >/dev/null 2>&1 || true
        if [ -s /run/nginx.pid ] && $SUDO kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
            $SUDO kill -QUIT "$(cat /run/nginx.pid)" 2>/dev/null || true
        fi
    fi
    ;;
esac
exit 0
