#!/usr/bin/env bash
# Builds the Debian packages hyv, hyv-dkms and hyv-guest-dkms from this tree (debian/), checks them
# with lintian, and checks that the DKMS source trees build against this machine's kernel headers
# (hyv_mdev's build kept as a binaries-only DKMS tarball for the newest kernel here).
# usage: tools/package.sh [--fast] [OUT_DIR]   (default build/pkg; the .deb files and lintian.txt land there)
#   --fast  compile without optimization and debug info (DEB_BUILD_OPTIONS=noopt, no -g) and as one
#           unity file per target (meson -Dunity=on): dpkg-buildpackage 73-78 s instead of 111-123 s
#           here, for tests of the packaging (vm-packages); never for packages you ship.
# The tree as it is (tracked and untracked files, not ignored ones) is copied aside first, so
# dpkg-buildpackage's files never land in the checkout.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build_options="nocheck parallel=$(nproc)"
if [ "${1:-}" = --fast ]; then
  shift
  build_options="$build_options noopt noddebs"
  export DEB_CFLAGS_MAINT_STRIP=-g DEB_CXXFLAGS_MAINT_STRIP=-g HYV_MESON_OPTIONS=-Dunity=on
fi
out=$(realpath -m "${1:-$repo/build/pkg}")
fail() { echo "package: $*" >&2; exit 1; }
for tool in dpkg-buildpackage lintian dkms; do
  command -v "$tool" >/dev/null || fail "$tool not found; run tools/bootstrap.sh"
done

version=$(cd "$repo" && dpkg-parsechangelog -SVersion)
meson_version=$(sed -n "s/^  version : '\(.*\)',$/\1/p" "$repo/meson.build")
[ "$version" = "$meson_version" ] ||
  fail "debian/changelog says $version, meson.build says $meson_version; add a changelog entry for $meson_version"

rm -rf "$out" && mkdir -p "$out/src/hyv-$version"
src=$out/src/hyv-$version
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src")
start=$SECONDS
(cd "$src" && DEB_BUILD_OPTIONS="$build_options" dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; fail "dpkg-buildpackage failed; the whole log: $out/build.log"; }
mv "$out/src"/*.deb "$out/src"/*.changes "$out/src"/*.buildinfo "$out/"
echo "package: built in $((SECONDS - start)) s: $(cd "$out" && ls ./*.deb | xargs -n1 basename | tr '\n' ' ')"

# Lintian at its default level (errors and warnings); what it still says is either fixed in
# debian/ or overridden there with the reason.
lintian --fail-on error,warning "$out"/hyv_"${version}"_*.changes > "$out/lintian.txt" 2> "$out/lintian.err" ||
  { cat "$out/lintian.txt" "$out/lintian.err"; fail "lintian found errors or warnings (above; $out/lintian.txt)"; }
echo "package: lintian clean ($(wc -l < "$out/lintian.txt") lines of info)"

# The DKMS trees as the packages ship them, built by dkms itself against this machine's headers, in
# a DKMS tree of their own (nothing lands in /var/lib/dkms). hyv_mdev's build is also kept as a
# binaries-only DKMS tarball: copied to /usr/share/hyv-dkms/ before the package is installed, the
# postinst loads it instead of compiling (hosts without a compiler; the vm-packages test host).
kver=$(ls /lib/modules | sort -V | tail -n1)
for pkg in hyv-dkms:hyv:hyv_mdev hyv-guest-dkms:hyv-guest:virtio_hyv; do
  IFS=: read -r deb name module <<<"$pkg"
  tree=$out/dkms-check/$name
  dkms_args=(-k "$kver" --sourcetree "$tree/root/usr/src" --dkmstree "$tree/dkms")
  mkdir -p "$tree/root" "$tree/dkms"
  dpkg-deb -x "$out/${deb}_${version}_all.deb" "$tree/root"
  dkms build "$name/$version" "${dkms_args[@]}" > "$tree/build.log" 2>&1 ||
    { tail -30 "$tree/build.log"; fail "dkms build of $name/$version for $kver failed"; }
  ko=$(find "$tree/dkms" -name "$module.ko*" | head -n1)
  [ -n "$ko" ] || fail "dkms build of $name/$version left no $module.ko"
  echo "package: dkms builds $module from $deb for $kver"
done
dkms mktarball "hyv/$version" --binaries-only --archive "$out/hyv-$version.dkms.tar.gz" \
  -k "$kver" --sourcetree "$out/dkms-check/hyv/root/usr/src" --dkmstree "$out/dkms-check/hyv/dkms" \
  > "$out/mktarball.log" 2>&1 || { cat "$out/mktarball.log"; fail "dkms mktarball of hyv/$version failed"; }
echo "package: hyv_mdev for $kver as a binaries-only DKMS tarball: $out/hyv-$version.dkms.tar.gz"
rm -rf "$out/src" "$out/dkms-check"
