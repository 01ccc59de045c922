#!/usr/bin/env bash
# Installs every Debian package hyv needs to build, test and run its demo.
# Idempotent: when everything is already installed it only checks and exits.
set -euo pipefail

PACKAGES=(
  # build
  build-essential meson ninja-build pkg-config kmod cpio util-linux python3 libxml2-dev
  libcli11-dev libspdlog-dev libfmt-dev libsqlite3-dev sqlite3 nlohmann-json3-dev libsystemd-dev libnl-route-3-dev help2man
  clang-format
  # tests (python3-prometheus-client: the metrics_format test's parser)
  googletest libgtest-dev python3-prometheus-client
  # RDMA userspace
  rdma-core libibverbs-dev ibverbs-providers ibverbs-utils rdmacm-utils perftest
  # virtualization
  qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
  # packages (tools/package.sh, the vm-packages test)
  debhelper dh-dkms dkms lintian mdevctl
  # test host VM: Debian's kernel + headers, tools used inside the VM
  linux-image-amd64 linux-headers-amd64 busybox-static iproute2 pciutils socat xz-utils binutils
)

missing=()
for p in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != 'install ok installed' ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
else
  echo "bootstrap: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: must run as root to install packages (try: sudo $0)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# libvirtd refuses to start qemu domains as an unknown user.
getent passwd libvirt-qemu >/dev/null || useradd --system --no-create-home libvirt-qemu 2>/dev/null || true

# The kernel image and headers must match: the test host VM boots the one we build modules against.
kver=$(ls /lib/modules | sort -V | tail -n1)
if [ ! -f "/boot/vmlinuz-$kver" ] || [ ! -d "/lib/modules/$kver/build" ]; then
  echo "bootstrap: kernel $kver lacks image or headers (/boot/vmlinuz-$kver, /lib/modules/$kver/build); reinstall linux-image-amd64 linux-headers-amd64" >&2
  exit 1
fi
