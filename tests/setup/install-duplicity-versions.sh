#!/bin/bash
# One virtualenv per duplicity major under tests/.venvs/ (gitignored):
#   dup3   newest duplicity 3.x (manylinux wheel)
#   dup21  newest duplicity 2.1.x (sdist, built against librsync-dev)
#   dup0811 duplicity 0.8.11, as Ubuntu 20.04 (focal) ships it (sdist, see build_dup0811)
# each with the backend libraries from PyPI (paramiko, boto3, azure-storage-blob).
# duplicity 0.8.22 is Debian's /usr/bin/duplicity (tests/setup/install-system.sh).
#
# Idempotent and quick when done: a venv whose stamp file matches the wanted spec is
# left alone. Needs install-system.sh first (python3-venv, librsync-dev, build tools).
#
# Env: DUP_VENVS_DIR (default tests/.venvs), DUP_PYTHON (default /usr/bin/python3),
#      DUP3_SPEC / DUP21_SPEC to override the pip requirement for duplicity,
#      DUP_VERSIONS="dup3 dup21 dup0811" to build only some.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTS_DIR="$(dirname "$HERE")"
VENVS="${DUP_VENVS_DIR:-$TESTS_DIR/.venvs}"
PY="${DUP_PYTHON:-/usr/bin/python3}"
DUP3_SPEC="${DUP3_SPEC:-duplicity>=3,<4}"
DUP21_SPEC="${DUP21_SPEC:-duplicity>=2.1,<2.2}"
BACKEND_LIBS=(paramiko boto3 azure-storage-blob)
STAMP_VERSION=1   # bump to force a rebuild of every venv

build_venv() {
    local name="$1" spec="$2" dir="$VENVS/$1"
    local want="v$STAMP_VERSION $spec ${BACKEND_LIBS[*]} $("$PY" -c 'import sys; print(sys.version.split()[0])')"
    if [ -x "$dir/bin/duplicity" ] && [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ]; then
        echo "$name: up to date ($("$dir/bin/duplicity" --version))"
        return 0
    fi
    local start=$SECONDS
    echo "$name: building venv in $dir for '$spec'"
    rm -rf "$dir"
    "$PY" -m venv "$dir"
    # The machine's pip config (/etc/xdg/pip) only caps torch; it does not touch these.
    "$dir/bin/pip" install -qq --upgrade pip setuptools wheel
    # 2.1.x comes as an sdist: pip builds its C extension against librsync-dev.
    "$dir/bin/pip" install -qq "$spec" "${BACKEND_LIBS[@]}"
    "$dir/bin/duplicity" --version >/dev/null
    echo "$want" > "$dir/.stamp"
    echo "$name: built in $((SECONDS - start))s ($("$dir/bin/duplicity" --version))"
}

# Focal's duplicity is 0.8.11.1612 (Debian's tarball, revision 1612). PyPI has no
# 0.8.11.1612: its last 0.8.11 sdist is 0.8.11.1609, and 0.8.12.1612 differs from it only
# in the version string, the changelog, translations and one fix in the PCA backend. The
# 0.8.x sdists are named <version>.<revision> but declare <version>.0 in their metadata,
# which pip refuses when asked for the name's version: download by the exact file from
# PyPI's index (sha256 checked), patch what Python >= 3.10 no longer compiles, install.
DUP0811_SDIST="duplicity-0.8.11.1609.tar.gz"
DUP0811_SHA256="be1e78a359be1b39699c50d396658b8c61f5dcd0012568d56460e4eed0bd3f33"
DUP0811_URL="https://files.pythonhosted.org/packages/97/ca/90134df83abb26868339ea0c6524cd3f3ee68a7043025afca2f229602793/$DUP0811_SDIST"
# 0.8.x imports these without declaring them (Debian's package depends on python3-future
# and python3-fasteners).
DUP0811_DEPS=(future fasteners)

build_dup0811() {
    local name=dup0811 dir="$VENVS/dup0811"
    local want="v$STAMP_VERSION $DUP0811_SDIST ${DUP0811_DEPS[*]} ${BACKEND_LIBS[*]} $("$PY" -c 'import sys; print(sys.version.split()[0])')"
    if [ -x "$dir/bin/duplicity" ] && [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ]; then
        echo "$name: up to date ($("$dir/bin/duplicity" --version))"
        return 0
    fi
    local start=$SECONDS src
    echo "$name: building venv in $dir for $DUP0811_SDIST"
    rm -rf "$dir"
    src="$(mktemp -d)"
    "$PY" -m venv "$dir"
    "$dir/bin/pip" install -qq --upgrade pip setuptools wheel
    "$dir/bin/pip" download -qq --no-deps --dest "$src" "$DUP0811_URL"
    echo "$DUP0811_SHA256  $src/$DUP0811_SDIST" | sha256sum --check --quiet
    tar -xzf "$src/$DUP0811_SDIST" -C "$src"
    # Py_TYPE() is no longer an lvalue (Python 3.10): Py_SET_TYPE (3.9+) does the same.
    sed -i 's/Py_TYPE(&\([A-Za-z_]*\)) = &PyType_Type;/Py_SET_TYPE(\&\1, \&PyType_Type);/' \
        "$src/${DUP0811_SDIST%.tar.gz}/duplicity/_librsyncmodule.c"
    "$dir/bin/pip" install -qq "$src/${DUP0811_SDIST%.tar.gz}" "${DUP0811_DEPS[@]}" "${BACKEND_LIBS[@]}"
    # Its setup.py installs bin/duplicity with "#!/usr/bin/env python3": use the venv's.
    sed -i "1s|^#!.*|#!$dir/bin/python3|" "$dir/bin/duplicity"
    "$dir/bin/duplicity" --version >/dev/null
    # the backends the tests use must import (sftp/scp: paramiko; s3: boto3; azure)
    (cd / && "$dir/bin/python3" -c 'import duplicity.backends.ssh_paramiko_backend, duplicity.backends.s3_boto3_backend, duplicity.backends.azurebackend, paramiko, boto3')
    rm -rf "$src"
    echo "$want" > "$dir/.stamp"
    echo "$name: built in $((SECONDS - start))s ($("$dir/bin/duplicity" --version))"
}

mkdir -p "$VENVS"
for v in ${DUP_VERSIONS:-dup3 dup21 dup0811}; do
    case "$v" in
        dup3) build_venv dup3 "$DUP3_SPEC" ;;
        dup21) build_venv dup21 "$DUP21_SPEC" ;;
        dup0811) build_dup0811 ;;
        *) echo "unknown venv $v" >&2; exit 2 ;;
    esac
done

echo "0.8 (system): $(/usr/bin/duplicity --version 2>/dev/null || echo missing)"
for v in ${DUP_VERSIONS:-dup3 dup21 dup0811}; do
    echo "$v: $("$VENVS/$v/bin/duplicity" --version)"
done
