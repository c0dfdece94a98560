# Issues one CRL per CA with `openssl ca -gencrl` and prints them, concatenated, on stdout.
# Input (environment): CRL_HOURS (next-update distance), CRL_ISSUERS (count), and for each
# issuer i: CRL_ISSUER_<i>_CERT, CRL_ISSUER_<i>_KEY (secret), CRL_ISSUER_<i>_REVOKED (PEM
# certificates it revokes, concatenated; may be empty). Nothing is written outside a private
# temp directory, which is removed on exit.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
for i in $(seq 0 $((CRL_ISSUERS - 1))); do
  dir="$work/$i"
  mkdir -p "$dir/revoked"
  cert_var="CRL_ISSUER_${i}_CERT"; key_var="CRL_ISSUER_${i}_KEY"; revoked_var="CRL_ISSUER_${i}_REVOKED"
  printf '%s\n' "${!cert_var}" > "$dir/ca.pem"
  printf '%s\n' "${!key_var}" > "$dir/ca.key"
  : > "$dir/index.txt"
  # Split the revoked bundle into one file per certificate, then list each in the CA database.
  printf '%s\n' "${!revoked_var}" | awk -v dir="$dir/revoked" '/BEGIN CERTIFICATE/ { n++ } n { print > (dir "/" n ".pem") }'
  for certificate in "$dir"/revoked/*.pem; do
    [ -e "$certificate" ] || continue
    serial=$(openssl x509 -in "$certificate" -noout -serial | cut -d= -f2)
    expiry=$(date -u -d "$(openssl x509 -in "$certificate" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
    subject=$(openssl x509 -in "$certificate" -noout -subject -nameopt compat | sed 's/^subject=//')
    printf 'R\t%s\t%s\t%s\tunknown\t%s\n' "$expiry" "$(date -u +%y%m%d%H%M%SZ)" "$serial" "$subject" >> "$dir/index.txt"
  done
  # A CRL number that only grows: seconds since the epoch, in hex.
  printf '%X\n' "$(date +%s)" > "$dir/crlnumber"
  cat > "$dir/openssl.cnf" <<CNF
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
  openssl ca -batch -gencrl -config "$dir/openssl.cnf" -cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
    -crlhours "$CRL_HOURS" -out "$dir/crl.pem" 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
  cat "$dir/crl.pem"
done
