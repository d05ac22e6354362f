#!/usr/bin/env bash
# Install the Debian packages that building and testing svcd need, when they are missing.
# Run as root on Debian 12. Rust itself (1.89 or newer, with cargo) comes from rustup.
set -euo pipefail

packages=(
    gcc libc6-dev pkg-config  # linking, and finding C libraries
    busybox-static            # the example units' commands
    util-linux                # ipcmk and ipcs, used by the IPC examples
    python3                   # the probe the isolation tests run inside services
    libseccomp-dev            # seccomp filters are compiled with libseccomp
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo is missing: install Rust 1.89 or newer with rustup (https://rustup.rs)" >&2
    exit 1
fi
