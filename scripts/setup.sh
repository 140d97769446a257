#!/usr/bin/env bash
# Installs the Debian packages Firma builds and tests with, when missing.
# Needs root (or sudo). Safe to run again: installs only what is absent.
set -euo pipefail

packages=(
  pcscd vsmartcard-vpcd libpcsclite-dev pkg-config   # PC/SC daemon, virtual reader driver, headers
  opensc opensc-pkcs11 yubico-piv-tool ykcs11         # independent PIV hosts used as test oracles
  libnss3-tools gnutls-bin libengine-pkcs11-openssl   # NSS, GnuTLS and OpenSSL PKCS#11 clients
  openssl util-linux                                  # test CA, unshare for the rig's private pcscd
  libsqlite3-dev poppler-utils                        # the station registry (SQLite), PUK letter checks (pdftotext)
  postgresql                                          # the central registry's tests: the rig runs its own server
  libegl1 libgl1 libxkbcommon-x11-0                   # the station's window (OpenGL, keyboard on X11)
  mesa-vulkan-drivers libvulkan1                      # software rendering of the window's screenshots in the UI tests
  libclang-dev                                        # bindgen for littlefs2-sys: the Nitrokey card's flash (tests/nitrokey)
  dpkg-dev binutils file lintian p11-kit              # Debian packages: shlibs, strip, lintian; p11-kit list-modules in their test
  chromium chromium-driver curl                       # the generation portal's tests: a real browser (WebDriver) and raw requests
)

# The portal's tests enter the citizen's area from headless Chromium with
# a client certificate: this machine policy picks the certificate for the
# test servers on 127.0.0.1 as a citizen would in the browser's dialog,
# which headless Chromium cannot show. It matches nothing else.
policy=/etc/chromium/policies/managed/firma-tests.json
policy_text='{ "AutoSelectCertificateForUrls": ["{\"pattern\":\"https://127.0.0.1:*\",\"filter\":{}}"] }'
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: needs root for: $*" >&2
    return 1
  fi
}
if [ "$(cat "$policy" 2>/dev/null)" != "$policy_text" ]; then
  echo "setup: writing the Chromium test policy $policy" >&2
  as_root mkdir -p "$(dirname "$policy")"
  printf '%s\n' "$policy_text" | as_root tee "$policy" >/dev/null
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo=(sudo); else
    echo "setup: these Debian packages are missing and I am not root: ${missing[*]}" >&2
    echo "setup: install them (apt-get install ${missing[*]}) and run me again." >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
