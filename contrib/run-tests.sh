#!/usr/bin/env bash
# Run every test of svcd: unit tests, the integration tests on this machine's kernel (as
# root), and the cgroup v2 scenarios in a VM.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/setup-debian.sh
cargo test --workspace --all-targets
contrib/vm/run-vm-tests.sh
