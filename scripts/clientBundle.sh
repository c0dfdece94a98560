#!/usr/bin/env bash
# Usage: clientBundle.sh [--legacy] NAME CERT KEY CA OUT   (password: first line of stdin)
# Writes a password-protected PKCS#12 bundle (the client's key and certificate, and the CA bundle)
# to OUT, mode 0600. The password reaches openssl through a pipe on fd 3: it never appears in
# argv or in the environment, and the key stays in its 0600 file.
#   default:  PBES2 with PBKDF2 and AES-256-CBC for key and certificates, SHA-256 MAC.
#   --legacy: PBE-SHA1-3DES for key and certificates, SHA-1 MAC, for older Java and macOS keychains.
#             (Not `openssl pkcs12 -legacy`: its RC2-40 certificate bag needs OpenSSL's legacy
#             provider just to be read back, and Node cannot load it; 3DES works everywhere.)
set -euo pipefail

format=modern
if [ "${1:-}" = "--legacy" ]; then
    format=legacy
    shift
fi
if [ "$#" -ne 5 ]; then
    echo "usage: clientBundle.sh [--legacy] NAME CERT KEY CA OUT  (password on stdin)" >&2
    exit 64
fi
name="$1" certificate="$2" key="$3" ca="$4" out="$5"
# `read` and `printf` are shell builtins: the password is never an argument of a process.
IFS= read -r password || true
if [ -z "${password}" ]; then
    echo "clientBundle.sh: empty password: a PKCS#12 bundle holds a private key and needs one" >&2
    exit 64
fi

# PBKDF2 iterations for the key, the certificates and the MAC: OWASP's current figure for
# PBKDF2-HMAC-SHA256 (openssl's default is 2,048). The legacy format keeps its own older ceiling,
# which old Java key stores read in reasonable time.
case "${format}" in
modern) algorithms=(-keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 -iter 600000) ;;
legacy) algorithms=(-keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -iter 100000) ;;
esac

# The key must be the certificate's: for a client that brought a CSR, the key it made the CSR with.
certificate_key="$(openssl x509 -noout -pubkey -in "${certificate}")" || exit 65
if ! given_key="$(openssl pkey -pubout -in "${key}" 2>/dev/null)" || [ "${given_key}" != "${certificate_key}" ]; then
    echo "clientBundle.sh: ${key} is not the key of ${certificate}; allowed: the certificate's own key (for a client that brought a CSR: the key the CSR was made with)" >&2
    exit 65
fi

umask 077
# Written beside OUT and renamed: a failed run never leaves a truncated bundle behind.
partial="$(mktemp "${out}.XXXXXX")"
trap 'rm -f "${partial}"' EXIT
openssl pkcs12 -export -name "${name}" -in "${certificate}" -inkey "${key}" -certfile "${ca}" \
    "${algorithms[@]}" -passout fd:3 -out "${partial}" 3< <(printf '%s\n' "${password}")
mv -f "${partial}" "${out}"
trap - EXIT
