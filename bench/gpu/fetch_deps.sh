#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with apt and a network), before a GPU run: the
# lent GPU machines have CUDA, CMake, ninja and PyTorch but no network and,
# as far as their image description says, none of Skipper's other build
# dependencies (OpenBLAS, GoogleTest, Google Benchmark, the Boost
# headers for the server's Beast/Asio, zlib, nlohmann-json, pkg-config). This downloads their Debian packages (about
# 23 MB) into .gpu-deps/ at the repository root, which git ignores locally;
# name `.gpu-deps` in the device tool's `carry` and bench/gpu/check.sh
# unpacks them into a private prefix (never into /).
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(
  libopenblas0-openmp libopenblas-openmp-dev libgfortran5
  libgtest-dev libbenchmark-dev libbenchmark1debian
  libboost1.74-dev zlib1g-dev zlib1g
  nlohmann-json3-dev pkgconf pkgconf-bin libpkgconf3
)

exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu-deps/' "$exclude" 2>/dev/null || echo '/.gpu-deps/' >>"$exclude"
rm -rf .gpu-deps
mkdir -p .gpu-deps
# apt-get download writes into the current directory.
(cd .gpu-deps && apt-get download "${packages[@]}")
du -sh .gpu-deps
echo "now: run bench/gpu/check.sh on the GPU machine with carry [\".gpu-deps\"]"
