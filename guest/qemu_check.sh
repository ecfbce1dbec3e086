#!/bin/bash
# Runs every guest program under QEMU (an independent reference machine) and checks its
# exit status. Usage: guest/qemu_check.sh [BUILD_DIR]   (default: build). Needs
# qemu-system-x86_64 (Debian: qemu-system-x86); not used by CI.
set -u
build=${1:-build}
dir=$build/guest
qemu=${QEMU:-qemu-system-x86_64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'NAME=hvsim-guest\nMODULE_OK=1\n' > "$tmp/module.env"

failed=0
# run NAME WANT_STATUS APPEND [QEMU ARGS...]
run() {
  local name=$1 want=$2 append=$3
  shift 3
  timeout 120 "$qemu" -nographic -no-reboot -m 256 -net none -display none -monitor none \
    -serial file:"$tmp/$name.log" -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$dir/$name.elf" -append "$append" "$@" > /dev/null 2>&1
  local got=$?
  if [ "$got" = "$want" ]; then
    echo "ok   $name (status $got)"
  else
    echo "FAIL $name: status $got, want $want; serial output:"
    sed 's/^/    /' "$tmp/$name.log"
    failed=1
  fi
}

run hello 1 "hello from qemu_check"
run exceptions 1 ""
run pagefault 1 ""
run compute 1 "rounds=1"
run compute 1 ""
run mbcheck 11 "expect_mem=256 expect_cpus=1 exit=5" -initrd "$tmp/module.env"
run mbcheck 255 "expect_mem=512 expect_cpus=1" -initrd "$tmp/module.env"  # must fail: 0x7F
exit $failed
