#!/bin/bash
# Install the system packages the tests need (real duplicity 0.8.x, OpenSSH server,
# FTP/rsync/ssh clients, backend libraries for Debian's duplicity, build deps for the
# duplicity 2.1.x sdist) and Azurite (npm) into tests/.node/.
#
# Idempotent: apt-get runs only when something is missing, npm only when azurite is
# missing or not the pinned version. Run as root (CI and developer machines are root).
#
# Env: AZURITE_VERSION (default below), SKIP_AZURITE=1 to skip the npm step, SKIP_APT=1
# to skip the apt step (the Makefile runs apt first, then npm beside the venv builds).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTS_DIR="$(dirname "$HERE")"
NODE_DIR="$TESTS_DIR/.node"
AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
# 3.36+ declares node >= 21; the machines have Node.js 20.

PACKAGES=(
    duplicity            # 0.8.22 on Debian 12: the "old" version under test
    python3-paramiko     # duplicity sftp/scp backend (paramiko)
    python3-pexpect      # duplicity pexpect+sftp/scp backends
    python3-boto3        # duplicity boto3+s3 backend
    python3-azure-storage  # duplicity azure backend (v12 blob SDK)
    gnupg
    openssh-server       # sshd for the SshServer fixture
    openssh-client       # ssh, scp, sftp, ssh-keygen
    rsync
    lftp                 # duplicity's lftp backend (ftp/ftps)
    cron
    nagios-nrpe-server   # nagios user + /etc/nagios/nrpe.d for charmhelpers' NRPE (test_schedule)
    openssl              # CA / server certificates for FTPS
    ca-certificates
    passwd               # useradd, chpasswd
    procps
    librsync-dev         # building duplicity 2.1.x from sdist
    python3-dev
    python3-venv
    python3-pip
    build-essential
    gettext              # duplicity's setup.py builds translations with msgfmt
    pkg-config
)

if [ "$(id -u)" != 0 ]; then
    echo "install-system.sh: must run as root" >&2
    exit 1
fi

if [ "${SKIP_APT:-0}" != 1 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done

    if [ "${#missing[@]}" -gt 0 ]; then
        echo "install-system.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "install-system.sh: all apt packages present"
    fi
fi

# sshd needs its privilege separation directory; the fixture runs its own sshd
# (own config, own host key, high port), never the system service.
mkdir -p /run/sshd
chmod 0755 /run/sshd

# Azurite (Azure blob emulator) from the npm registry, project-local.
if [ "${SKIP_AZURITE:-0}" != 1 ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "install-system.sh: npm not found (Node.js 20 with npm is expected on the machine)" >&2
        exit 1
    fi
    have=""
    if [ -f "$NODE_DIR/node_modules/azurite/package.json" ]; then
        have="$(node -p "require('$NODE_DIR/node_modules/azurite/package.json').version" 2>/dev/null || true)"
    fi
    if [ "$have" != "$AZURITE_VERSION" ]; then
        echo "install-system.sh: npm install azurite@$AZURITE_VERSION into $NODE_DIR"
        mkdir -p "$NODE_DIR"
        [ -f "$NODE_DIR/package.json" ] || echo '{"name": "duplicity-charm-test-tools", "private": true}' > "$NODE_DIR/package.json"
        npm install --prefix "$NODE_DIR" --no-audit --no-fund --no-save --loglevel=error "azurite@$AZURITE_VERSION"
    else
        echo "install-system.sh: azurite $have present"
    fi
    "$NODE_DIR/node_modules/.bin/azurite-blob" --version
fi

duplicity --version
