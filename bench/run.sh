#!/usr/bin/env bash
# The one command of the benchmark: sets up its two environments if needed, then runs bench/run.py
# with the given options (see bench/README.md). Usage: bench/run.sh [--rows N] [--runs N] [...]
set -euo pipefail
bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$bench")"
python="${PYTHON:-python3}"

# The harness and the peers share bench/.venv-peers, so the peers' pins never meet OpenCDM's.
peers="$bench/.venv-peers"
if [[ ! -x "$peers/bin/python" || "$bench/requirements.txt" -nt "$peers/.installed" ]]; then
    "$python" -m venv "$peers"
    "$peers/bin/pip" install --quiet --upgrade pip
    "$peers/bin/pip" install --quiet -r "$bench/requirements.txt"
    touch "$peers/.installed"
fi

# OpenCDM runs from its own environment: $OPENCDM_PYTHON, the checkout's .venv, or one made here.
if [[ -z "${OPENCDM_PYTHON:-}" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then
        OPENCDM_PYTHON="$repo/.venv/bin/python"
    else
        if [[ ! -x "$bench/.venv-opencdm/bin/python" ]]; then
            "$python" -m venv "$bench/.venv-opencdm"
            "$bench/.venv-opencdm/bin/pip" install --quiet -e "$repo"
        fi
        OPENCDM_PYTHON="$bench/.venv-opencdm/bin/python"
    fi
fi
export OPENCDM_PYTHON

cd "$repo"
exec "$peers/bin/python" "$bench/run.py" "$@"
