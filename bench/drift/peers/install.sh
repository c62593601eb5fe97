#!/bin/bash
# One virtual environment per peer of bench/drift/bench_peers.py, under $1 (default
# /work/peers), with the pins that install on a fresh machine (Python 3.11).
# Never into vigil's own environment: the peers' pins conflict with it and with each other.
set -eu
DIR=${1:-/work/peers}
PY=${PYTHON:-python3.11}
mk() {
  name=$1; shift
  "$PY" -m venv "$DIR/$name"
  "$DIR/$name/bin/pip" install -q --upgrade pip
  "$DIR/$name/bin/pip" install -q "$@"
}
mk evidently "evidently==0.7.23" "pandas<3" pyarrow
mk nannyml "nannyml==0.13.1" statsmodels pyarrow
mk alibi "alibi-detect==0.13.0" "pyarrow<21"
# whylogs 1.6 needs numpy<2, hence a pyarrow built for numpy 1 (<21); its drift module
# imports scipy and IPython without declaring them
mk whylogs "whylogs==1.6.4" "numpy<2" "pandas<3" "pyarrow<21" scipy ipython
