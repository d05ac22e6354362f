#!/usr/bin/env bash
# Build svcd and run it on the example units in units/.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/setup-debian.sh
cargo build --release --bins
target/release/svcctl validate units/
target/release/svcd --units units/ --dry-run
echo "--- svcd run units/batch.yaml"
target/release/svcd run units/batch.yaml
