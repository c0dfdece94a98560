#!/usr/bin/env bash
# Issues one CRL per CA with `openssl ca -gencrl` and prints them, concatenated, on stdout.
#
# Input: CRL_HOURS (next-update distance) in the environment, and on stdin, for each CA, a line
# "### issuer" followed by the CA's certificate, its private key, and the certificates it revokes
# (PEM, any number). The keys stay in memory and reach openssl through a pipe: the private temp
# directory holds only public material (certificates and the CA database), and is removed on exit.
# By hand: { echo '### issuer'; cat ca.pem ca.key revoked*.pem; } | CRL_HOURS=720 bash revocationListScript.sh
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
issuers=0

# Lists one revoked certificate in the CA database (status R, revoked now).
record_revoked() {
    local certificate="$1" database="$2" details serial expiry subject
    details=$(openssl x509 -in "$certificate" -noout -serial -enddate -subject -nameopt compat)
    serial=$(sed -n 's/^serial=//p' <<<"$details")
    expiry=$(date -u -d "$(sed -n 's/^notAfter=//p' <<<"$details")" +%y%m%d%H%M%SZ)
    subject=$(sed -n 's/^subject=//p' <<<"$details")
    printf 'R\t%s\t%s\t%s\tunknown\t%s\n' "$expiry" "$(date -u +%y%m%d%H%M%SZ)" "$serial" "$subject" >>"$database"
}

# Issues the CRL of the CA read last (ca_certificate, ca_key, revoked).
issue_crl() {
    local dir="$work/$issuers" certificate
    issuers=$((issuers + 1))
    mkdir -p "$dir/revoked"
    printf '%s\n' "$ca_certificate" >"$dir/ca.pem"
    : >"$dir/index.txt"
    printf '%s' "$revoked" | awk -v dir="$dir/revoked" '/BEGIN CERTIFICATE/ { n++ } n { print > (dir "/" n ".pem") }'
    for certificate in "$dir"/revoked/*.pem; do
        [ -e "$certificate" ] || continue
        record_revoked "$certificate" "$dir/index.txt"
    done
    # A CRL number that only grows: seconds since the epoch, in hex.
    printf '%X\n' "$(date +%s)" >"$dir/crlnumber"
    cat >"$dir/openssl.cnf" <<CNF
[ ca ]
default_ca = issuer
[ issuer ]
database = $dir/index.txt
crlnumber = $dir/crlnumber
default_md = sha256
crl_extensions = crl_extensions
[ crl_extensions ]
authorityKeyIdentifier = keyid:always
CNF
    openssl ca -batch -gencrl -config "$dir/openssl.cnf" -cert "$dir/ca.pem" -keyfile <(printf '%s\n' "$ca_key") \
        -crlhours "$CRL_HOURS" -out "$dir/crl.pem" 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
    cat "$dir/crl.pem"
}

ca_certificate="" ca_key="" revoked="" block=""
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        "### issuer")
            [ -z "$ca_certificate" ] || issue_crl
            ca_certificate="" ca_key="" revoked=""
            ;;
        -----BEGIN*) block="$line" ;;
        -----END*)
            block+=$'\n'"$line"
            if [[ "$line" == *"PRIVATE KEY"* ]]; then
                ca_key="$block"
            elif [ -z "$ca_certificate" ]; then
                ca_certificate="$block"
            else
                revoked+="$block"$'\n'
            fi
            block=""
            ;;
        *) [ -z "$block" ] || block+=$'\n'"$line" ;;
    esac
done
[ -z "$ca_certificate" ] || issue_crl
[ "$issuers" -gt 0 ] || { echo "no issuer on stdin" >&2; exit 1; }
