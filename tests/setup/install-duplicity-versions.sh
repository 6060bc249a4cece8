#!/bin/bash
# One virtualenv per duplicity major under tests/.venvs/ (gitignored):
#   dup3   newest duplicity 3.x (manylinux wheel)
#   dup21  newest duplicity 2.1.x (sdist, built against librsync-dev)
# each with the backend libraries from PyPI (paramiko, boto3, azure-storage-blob).
# duplicity 0.8.x is Debian's /usr/bin/duplicity (tests/setup/install-system.sh).
#
# Idempotent and quick when done: a venv whose stamp file matches the wanted spec is
# left alone. Needs install-system.sh first (python3-venv, librsync-dev, build tools).
#
# Env: DUP_VENVS_DIR (default tests/.venvs), DUP_PYTHON (default /usr/bin/python3),
#      DUP3_SPEC / DUP21_SPEC to override the pip requirement for duplicity,
#      DUP_VERSIONS="dup3 dup21" to build only some.
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

mkdir -p "$VENVS"
for v in ${DUP_VERSIONS:-dup3 dup21}; do
    case "$v" in
        dup3) build_venv dup3 "$DUP3_SPEC" ;;
        dup21) build_venv dup21 "$DUP21_SPEC" ;;
        *) echo "unknown venv $v" >&2; exit 2 ;;
    esac
done

echo "0.8 (system): $(/usr/bin/duplicity --version 2>/dev/null || echo missing)"
for v in ${DUP_VERSIONS:-dup3 dup21}; do
    echo "$v: $("$VENVS/$v/bin/duplicity" --version)"
done
