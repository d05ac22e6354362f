#!/usr/bin/env bash
# Start-latency benchmark: svcd against bubblewrap, crun and the raw floor, in one run.
# As root on Debian 12. Writes contrib/bench/results/start-latency.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
contrib/setup-debian.sh
for p in bubblewrap crun; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
    }
done
cargo build --release --bin svcd --example start_latency
target/release/examples/start_latency target/release/svcd contrib/bench/results/start-latency.md "${1:-200}"
