#!/usr/bin/env bash
# The VM test bed: boot Debian's cloud kernel under qemu with an initramfs holding svcd,
# busybox and the scenarios of tests/vm/, on cgroup v2; read the results from the serial
# console. The kernel is downloaded once (unpacked, not installed) and cached in target/vm/.
set -euo pipefail
cd "$(dirname "$0")/../.."
contrib/setup-debian.sh
missing=()
for p in qemu-system-x86 cpio busybox-static; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cache=target/vm
mkdir -p "$cache/download"
if [ ! -f "$cache/vmlinuz" ]; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
    [ -n "$pkg" ] || { apt-get update -qq; pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}'); }
    (cd "$cache/download" && apt-get download "$pkg" >/dev/null)
    rm -rf "$cache/kernel"
    dpkg-deb -x "$cache"/download/"$pkg"_*.deb "$cache/kernel"
    cp "$cache"/kernel/boot/vmlinuz-* "$cache/vmlinuz"
fi

cargo build --release --bin svcd
root="$cache/root"
rm -rf "$root"
mkdir -p "$root"/{bin,etc,units,proc,sys,dev,tmp,run}
cp /bin/busybox "$root/bin/busybox"
cp target/release/svcd "$root/bin/svcd"
# svcd's shared libraries, at the paths its loader looks for them.
for lib in $(ldd target/release/svcd | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
cp tests/vm/init "$root/init"
chmod +x "$root/init"
cp tests/vm/units/*.yaml "$root/units/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$cache/initramfs.gz"

boot() { # ACCEL EXTRA_CMDLINE TIMEOUT
    timeout "$3" qemu-system-x86_64 -accel "$1" -m 1024 -smp 2 -nographic -no-reboot \
        -kernel "$cache/vmlinuz" -initrd "$cache/initramfs.gz" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init $2" 2>&1 || true
}

# Software emulation unless a probe boot under KVM works (KVM can fail with MSR errors).
accel=tcg
if [ -w /dev/kvm ] && boot kvm svcd.probe 60 | grep -q "VM PROBE OK"; then
    accel=kvm
fi
echo "vm: booting with $accel"
out=$(boot "$accel" "" 600)
echo "$out" | tr -d "\r" | grep -oE "VMTEST .*|^    .*" || true
done_line=$(echo "$out" | grep -E "^VMTEST DONE" | tail -n1 | tr -d '\r')
if [ -z "$done_line" ]; then
    echo "$out" | tail -n 40
    echo "vm: the scenarios did not finish"
    exit 1
fi
read -r _ _ passed failed <<< "$done_line"
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
