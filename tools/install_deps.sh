#!/usr/bin/env bash
# Installs the Debian packages Skipper builds and tests with, where missing.
# Used by the README's commands and by .ci/run. The CUDA toolkit is optional
# (nvcc on PATH enables the CUDA path); nothing from PyPI is needed to build or
# run Skipper (the peers for benchmarks are in bench/peers/requirements.txt;
# the Python package builds its own with pip install .).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libopenblas-openmp-dev   # OpenBLAS on OpenMP: shares our thread pool
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev
  libboost-dev             # Boost.Beast and Asio (header-only): the prediction server
  zlib1g-dev               # .csv.gz inputs
  libopenmpi-dev openmpi-bin  # data-parallel training across processes (-DSKIPPER_MPI)
  chromium                 # headless browser test of the prediction page
  wrk                      # bounded load test of the server
  clang libclang-rt-14-dev libomp-dev  # libFuzzer targets (tests/fuzz, SKIPPER_FUZZ=ON)
  python3-dev python3-venv python3-pip  # pip install . (the Python package) and its tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
