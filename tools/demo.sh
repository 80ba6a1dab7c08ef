#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The main job on the default token: initialise it, generate a key and sign with it through pkcs11-tool,
# then verify the signature with openssl against the public key read back from the token.
# With --setup it first installs the Debian packages it needs and builds into ./build; with --installed it uses
# the installed module and CLI (meson install, or the Debian packages).
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "${1:-}" = --setup ]; then
	shift
	SUDO=()
	[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
	"${SUDO[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends \
		meson ninja-build pkg-config gcc libc6-dev libssl-dev liblmdb-dev libp11-kit-dev \
		libjansson-dev libinih-dev check opensc openssl
	[ -d build ] || meson setup build
	ninja -C build
fi
if [ "${1:-}" = --installed ]; then
	# The installed module (meson install, or the Debian packages): in p11-kit's module directory.
	mod=$(pkg-config --variable=p11_module_path p11-kit-1)/libkms11.so
	[ -f "$mod" ] || { echo "demo: $mod not found; install kms11 first" >&2; exit 1; }
	cli=$(command -v kms11 || true)
else
	build=${1:-build}
	mod=$(cd "$build" && pwd)/module/pkcs11/libkms11.so
	[ -f "$mod" ] || { echo "demo: $mod not found; build first (meson setup $build && ninja -C $build)" >&2; exit 1; }
	cli=$(cd "$build" && pwd)/tools/kms11
fi
command -v pkcs11-tool >/dev/null || { echo "demo: pkcs11-tool not found (apt-get install opensc)" >&2; exit 1; }

if [ -z "${KMS11_STORE:-}" ]; then
	KMS11_STORE=$(mktemp -d)
	trap 'rm -rf "$KMS11_STORE" "$work"' EXIT
fi
export KMS11_STORE
work=$(mktemp -d)
so=12345678
pin=1234
p11() { pkcs11-tool --module "$mod" "$@"; }

echo "== store: $KMS11_STORE"
p11 --init-token --label kms11 --so-pin "$so"
p11 --login --login-type so --so-pin "$so" --init-pin --pin "$pin"
p11 --login --pin "$pin" --keypairgen --key-type EC:prime256v1 --label demo --id 01
echo "hello from kms11" > "$work/msg"
p11 --login --pin "$pin" --sign -m ECDSA-SHA256 --signature-format openssl --label demo \
	-i "$work/msg" -o "$work/msg.sig"
p11 --read-object --type pubkey --label demo -o "$work/pub.der"
openssl dgst -sha256 -verify "$work/pub.der" -keyform DER -signature "$work/msg.sig" "$work/msg"
p11 --login --pin "$pin" -O
if [ -x "${cli:-}" ]; then
	echo "== the same key through the kms11 CLI ($cli)"
	"$cli" key list --table
fi
echo "== demo done: key generated in kms11, signature verified by openssl"
