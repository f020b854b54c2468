#!/usr/bin/env bash
# Installs Lifeline's build and test dependencies from Debian 12 packages.
# Skips what is already installed; works as root or as a user with sudo.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config
  libcaf-dev libpqxx-dev libhnswlib-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev catch2 zlib1g-dev
  libboost-dev nlohmann-json3-dev libsimdjson-dev libcli11-dev libtomlplusplus-dev
  librestinio-dev
  prometheus wrk gnuplot-nox
  postgresql-15 postgresql-client-15
  etcd-server curl
  clang-15 libfuzzer-15-dev
  chromium fonts-dejavu-core python3-jsonschema python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
