#!/usr/bin/env bash
# Issues one CRL per CA with `openssl ca -gencrl` and prints them, concatenated, on stdout.
#
# Input: CRL_HOURS (next-update distance) in the environment, and on stdin, for each CA, a line
# "### issuer" followed by the CA's certificate, its private key, and what it revokes: certificates
# (PEM, any number), and lines "### revoked SERIAL EXPIRY" (serial in hex, expiry as the CA database
# writes it: YYMMDDHHMMSSZ, or YYYYMMDDHHMMSSZ from 2050 on) for certificates known by serial only.
# The keys stay in memory and reach openssl through a pipe: the private temp directory holds only
# public material (certificates and the CA database), and is removed on exit.
# By hand: { echo '### issuer'; cat ca.pem ca.key revoked*.pem; } | CRL_HOURS=720 bash revocationListScript.sh
#
# Cost does not grow with one process per revoked certificate: stdin is split by one awk, and the
# serial, expiry and subject of all of a CA's revoked certificates come from one openssl pass
# (1,000 revoked certificates: well under a second of parsing).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
revoked_at=$(date -u +%y%m%d%H%M%SZ)

# Splits stdin: issuer N's certificate to N.ca.pem and its revoked certificates to N.revoked.pem
# (public), and its private key to awk's stdout only, framed by "### key N" lines; then the count.
keys=$(awk -v work="$work" '
    /^### issuer$/ { n++; certificates = 0; next }
    /^### revoked [0-9A-Fa-f]+ [0-9]+Z$/ {
        if (n > 0) { file = work "/" n ".serials"; print toupper($3) "\t" $4 >> file; close(file) }
        next
    }
    /^-----BEGIN / { block = $0; inside = 1; next }
    inside { block = block "\n" $0 }
    inside && /^-----END / {
        inside = 0
        if (n == 0) { next }
        if ($0 ~ /PRIVATE KEY/) { print "### key " n; print block; next }
        file = work "/" n (certificates++ == 0 ? ".ca.pem" : ".revoked.pem")
        print block >> file
        close(file)
    }
    END { print "### issuers " n + 0 }
')
count=${keys##*"### issuers "}

# key_of N: issuer N's private key, from the in-memory split. Through a pipe: bash may back a
# here-string with a temp file.
key_of() {
    printf '%s\n' "$keys" | awk -v header="### key $1" '$0 == header { on = 1; next } /^### / { on = 0 } on'
}

# The CA database lines (status R, revoked now) of every certificate in a PEM bundle, in one pass:
# `openssl pkcs7 -print_certs -text` prints each certificate's serial, notAfter and subject.
database_of() {
    openssl crl2pkcs7 -nocrl -certfile "$1" | openssl pkcs7 -print_certs -noout -text |
        awk -v revoked_at="$revoked_at" '
            function flush() {
                if (serial != "") { printf "R\t%s\t%s\t%s\tunknown\t%s\n", expiry, revoked_at, serial, subject }
                serial = ""; expiry = ""; subject = ""
            }
            function even(hex) { hex = toupper(hex); return (length(hex) % 2 ? "0" hex : hex) }
            /^Certificate:/ { flush(); next }
            /^ +Serial Number:/ {
                if (match($0, /\(0x[0-9a-fA-F]+\)/)) { serial = even(substr($0, RSTART + 3, RLENGTH - 4)) }
                else { wanted_serial = 1 }
                next
            }
            wanted_serial { wanted_serial = 0; value = $1; gsub(":", "", value); serial = even(value); next }
            /^ +Not After *:/ {
                # Not After : Dec  9 21:53:50 2026 GMT (UTCTime before 2050, GeneralizedTime from it on)
                sub(/^ +Not After *: */, "")
                split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", names, " ")
                for (m = 1; m <= 12; m++) { if (names[m] == $1) break }
                split($3, clock, ":")
                year = $4 < 2050 ? substr($4, 3, 2) : $4
                expiry = sprintf("%s%02d%02d%s%s%sZ", year, m, $2, clock[1], clock[2], clock[3])
                next
            }
            /^ +Subject: / { sub(/^ +Subject: /, ""); subject = $0; next }
            END { flush() }
        '
}

# issue_crl N: the CRL of issuer N.
issue_crl() {
    local n="$1" dir="$work/$1"
    mkdir -p "$dir"
    : >"$dir/index.txt"
    if [ -s "$work/$n.revoked.pem" ]; then
        database_of "$work/$n.revoked.pem" >"$dir/index.txt"
        # Every certificate must have made it into the database.
        local expected listed
        expected=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$work/$n.revoked.pem")
        listed=$(wc -l <"$dir/index.txt")
        if [ "$expected" -ne "$listed" ]; then
            echo "issuer $n: $expected revoked certificates on stdin, but $listed could be read" >&2
            exit 1
        fi
    fi
    # Certificates known by serial only; a serial already listed from a PEM is listed once.
    if [ -s "$work/$n.serials" ]; then
        awk -F '\t' -v revoked_at="$revoked_at" '
            FILENAME == ARGV[1] { listed[$4] = 1; next }
            !($1 in listed) { listed[$1] = 1; printf "R\t%s\t%s\t%s\tunknown\t/CN=revoked\n", $2, revoked_at, $1 }
        ' "$dir/index.txt" "$work/$n.serials" >"$dir/by-serial.txt"
        cat "$dir/by-serial.txt" >>"$dir/index.txt"
    fi
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
    openssl ca -batch -gencrl -config "$dir/openssl.cnf" -cert "$work/$n.ca.pem" -keyfile <(key_of "$n") \
        -crlhours "$CRL_HOURS" -out "$dir/crl.pem" 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
    cat "$dir/crl.pem"
}

issuers=0
for ((n = 1; n <= count; n++)); do
    [ -e "$work/$n.ca.pem" ] || continue # a section without a certificate
    issue_crl "$n"
    issuers=$((issuers + 1))
done
[ "$issuers" -gt 0 ] || { echo "no issuer on stdin" >&2; exit 1; }
