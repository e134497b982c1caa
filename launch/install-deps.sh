#!/usr/bin/env bash
# Installs the Debian 12 packages mtbert builds against, when missing.
# Safe to run again: does nothing if all are present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libyaml-dev libutf8proc-dev
      libjansson-dev libpcre2-dev libhdf5-dev hdf5-tools libopenmpi-dev openmpi-bin python3
      libprotobuf-c-dev protobuf-c-compiler libxxhash-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
