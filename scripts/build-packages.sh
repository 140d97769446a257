#!/usr/bin/env bash
# Builds Firma's Debian packages (firma-pkcs11, firma-station, firma-card,
# firma-ca, firma-portal) with dpkg-deb from the control files in packaging/, versioned
# from the workspace's Cargo.toml, into target/debian/, and runs lintian on
# them (any error fails the build).
#
#   scripts/build-packages.sh            # release build: what is shipped
#   FIRMA_PACKAGE_PROFILE=dev scripts/build-packages.sh
#                                        # the dev build CI has already made
#                                        # (dependencies optimized, Firma's
#                                        # own crates not): tests the packaging
#                                        # without a second build of everything
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${FIRMA_PACKAGE_PROFILE:-release}
case "$profile" in
  release) bin=target/release ;;
  dev) bin=target/debug ;;
  *) echo "build-packages: FIRMA_PACKAGE_PROFILE is release or dev, not $profile" >&2; exit 2 ;;
esac
out=target/debian
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)

if [ "$profile" = dev ]; then
  # The whole workspace, as scripts/test.sh builds it: the same features,
  # so the programs it already built are reused, not rebuilt. That build
  # carries the station's test knobs: dev packages test the packaging and
  # are not for a PRU (the release build has no knobs).
  cargo build --quiet --workspace --features firma-station-engine/test-knobs
else
  cargo build --quiet --release -p firma-pkcs11 -p firma-pkcs11-register \
    -p firma-station -p firma-card -p firma-ca -p firma-portal
fi

rm -rf "$out"
mkdir -p "$out"
for pkg in firma-pkcs11 firma-station firma-card firma-ca firma-portal; do
  root="$out/$pkg"
  mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$pkg"
  elfs=()
  while read -r src dst mode; do
    [ -n "$src" ] || continue
    src=${src//@BIN@/$bin}
    dst=${dst//@MULTIARCH@/$multiarch}
    install -D -m "$mode" "$src" "$root/$dst"
    if file -b "$root/$dst" | grep -q '^ELF'; then
      # Debian ships stripped objects; the debug info stays in target/.
      strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/$dst"
      elfs+=("$root/$dst")
    fi
  done < "packaging/$pkg/files"
  install -m 0644 packaging/common/copyright "$root/usr/share/doc/$pkg/copyright"
  # What a package embeds from others (the portal's page script).
  if [ -f "packaging/$pkg/copyright.extra" ]; then
    cat "packaging/$pkg/copyright.extra" >> "$root/usr/share/doc/$pkg/copyright"
  fi
  sed "s/@VERSION@/$version/" packaging/common/changelog | gzip -9n > "$root/usr/share/doc/$pkg/changelog.gz"
  chmod 0644 "$root/usr/share/doc/$pkg/changelog.gz"
  # The shared libraries the binaries link, as dpkg-shlibdeps names them
  # (it wants a debian/control to read; an empty one will do).
  scratch=$(mktemp -d)
  mkdir "$scratch/debian"
  printf 'Source: firma\n\nPackage: %s\nArchitecture: any\n' "$pkg" > "$scratch/debian/control"
  shlibs=$(cd "$scratch" && dpkg-shlibdeps -O "${elfs[@]/#/$OLDPWD/}" |
    sed -n 's/^shlibs:Depends=//p')
  rm -rf "$scratch"
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  sed -e "s/@VERSION@/$version/g" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@SHLIBS@/$shlibs/" "packaging/$pkg/control" > "$root/DEBIAN/control"
  (cd "$root" && find usr -type f -printf '%P\n' | sort | sed 's|^|usr/|' |
    xargs md5sum > DEBIAN/md5sums)
  chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
  rm -rf "$root"
done

# lintian: errors fail the build; warnings are printed.
lintian --fail-on error --suppress-tags no-manual-page "$out"/*.deb
ls -1 "$out"/*.deb
