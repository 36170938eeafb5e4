# Shared by scripts/check and scripts/test: a virtual environment in .venv (or $REFCRYPTO_VENV),
# created with the system python3. On a fresh Debian machine python3 has no venv module;
# as root we install Debian's python3-venv first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${REFCRYPTO_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}

apt_install() {
    # apt_install PACKAGE...: install Debian packages when we are root and apt-get exists.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        if [ -z "${REFCRYPTO_APT_UPDATED:-}" ]; then
            apt-get update -qq
            export REFCRYPTO_APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "note: not root (or no apt-get): not installing Debian packages: $*" >&2
    fi
}

make_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            apt_install python3-venv
            rm -rf "$VENV"
            "$PYTHON" -m venv "$VENV"
        fi
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
}
