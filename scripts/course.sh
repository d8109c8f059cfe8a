#!/usr/bin/env bash
# Set up the course once (a virtual environment in .venv, the package and its tools),
# then run the main job or the tests:
#   bash scripts/course.sh run [LESSON ...] [--full]   execute the solution notebooks
#   bash scripts/course.sh book [--edition ...]         the HTML book of the executed ones
#   bash scripts/course.sh test [PYTEST ARGS ...]      the whole test suite (what CI runs)
#   bash scripts/course.sh test --fast [PYTEST ARGS]   lint, unit tests, generated-notebook
#                                                       checks: no notebook, kernel, hub or browser
#   bash scripts/course.sh setup                        only set up
# Needs Python 3.10+ with venv and pip; no conda, no GPU, no dataset.
# COURSE_VENV=DIR uses another virtual environment; COURSE_SETUP=0 uses it as it is, installing
# nothing (a batch job on a compute node without internet: set up once on the login node).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
venv=${COURSE_VENV:-.venv}

setup_venv() {
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        echo "error: $python is missing or older than 3.10; set PYTHON=/path/to/python3.10+" >&2
        exit 1
    fi
    if [ ! -x "$venv/bin/python" ]; then
        echo "setting up $venv (first run only; PyTorch is large, this takes a few minutes)"
        "$python" -m venv "$venv"
    fi
    # Reinstall whenever pyproject.toml changes.
    stamp="$venv/.installed-$(cksum pyproject.toml | cut -d' ' -f1)"
    # ... and when a test tool is missing (a venv made before it joined the extras).
    if [ ! -f "$stamp" ] || ! "$venv/bin/python" -c "import playwright, jupyterhub, nbgitpuller" 2>/dev/null; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -e ".[dev]"
        rm -f "$venv"/.installed-*
        touch "$stamp"
    fi
}
if [ "${COURSE_SETUP:-1}" = 0 ]; then
    if [ ! -x "$venv/bin/python" ]; then
        echo "error: COURSE_SETUP=0 but there is no $venv/bin/python; set up first" >&2
        exit 1
    fi
else
    setup_venv
fi

# The browser test drives Debian's Chromium, never a downloaded one ('playwright install').
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's chromium for the browser test (apt-get)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
            >/dev/null || echo "note: apt-get could not install chromium; the browser test is skipped"
    else
        echo "note: no /usr/bin/chromium (install: sudo apt-get install chromium); the browser test is skipped"
    fi
}

# The grader's sandbox is Debian's bubblewrap (the grading tests are skipped without it).
ensure_bubblewrap() {
    command -v bwrap >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's bubblewrap for the grader's sandbox (apt-get)"
        { apt-get install -y -qq bubblewrap || { apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; }; } \
            >/dev/null || echo "note: apt-get could not install bubblewrap; grading tests are skipped"
    else
        echo "note: no bwrap (install: sudo apt-get install bubblewrap); grading refuses to run without --unsafe and its tests are skipped"
    fi
}

# The cluster tests start a one-node Slurm (tests/test_cluster_slurm.py): Debian's packages.
ensure_slurm() {
    command -v sbatch >/dev/null && command -v munged >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's slurm-wlm and munge for the cluster tests (apt-get)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends slurm-wlm munge; } >/dev/null \
            || echo "note: apt-get could not install slurm-wlm and munge; the Slurm tests are skipped"
    else
        echo "note: no Slurm (install, as root: apt-get install slurm-wlm munge); the Slurm tests are skipped"
    fi
}

# The hub test's proxy comes from npm, into the git-ignored .tools/ (Node is needed).
ensure_proxy() {
    [ -x .tools/node_modules/.bin/configurable-http-proxy ] && return 0
    if command -v npm >/dev/null; then
        echo "installing configurable-http-proxy for the hub test (npm, into .tools/)"
        npm install --prefix .tools --no-audit --no-fund --loglevel=error \
            configurable-http-proxy@5 >/dev/null \
            || echo "note: npm could not install configurable-http-proxy; the hub test is skipped"
    else
        echo "note: no npm (install Node.js); the hub test is skipped"
    fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
    run)
        exec "$venv/bin/python" -m course_utils run "$@" ;;
    book)
        exec "$venv/bin/python" -m course_utils book "$@" ;;
    test)
        export COURSE_QUICK=1
        # A CPU that plays an accelerator: what would fail on a GPU fails here (device_audit).
        export COURSE_DEVICE_AUDIT=1
        if [ "${1:-}" = "--fast" ]; then
            shift
            [ $# -eq 0 ] && set -- tests  # not notebooks/solutions: nbval would only collect it
            "$venv/bin/python" -m ruff check .
            exec "$venv/bin/python" -m pytest -m "not (notebooks or browser or integration)" "$@"
        fi
        ensure_chromium
        ensure_bubblewrap
        ensure_proxy
        ensure_slurm
        "$venv/bin/python" -m ruff check .
        exec "$venv/bin/python" -m pytest "$@" ;;
    setup)
        ensure_bubblewrap
        echo "ready: activate with 'source $venv/bin/activate'" ;;
    *)
        sed -n '2,10p' "$0" >&2
        exit 2 ;;
esac
