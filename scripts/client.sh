#!/usr/bin/env bash
# `npm run client -- [STACK] [CLIENT] [--key FILE] [--p12 [--legacy] [--password-file PATH]]`: writes
# the CA bundle and a client's certificate and key from the stack outputs into
# .mtls-nginx/clients/STACK/ (key mode 0600), then runs that client's curl command from the
# `curlCommands` output. A client that brought a CSR has no key in the stack: its key is its own.
# Only its certificate is written, and --key FILE (the key the CSR was made with, never copied) is
# what curl and --p12 use; --p12 refuses without it.
# --p12 also writes CLIENT.p12 (mode 0600), protected by a password typed at the terminal or read
# from the first line of --password-file (never from argv or state); --legacy picks the older
# encryption that old Java and macOS keychains need (see scripts/clientBundle.sh).
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"

usage() {
    echo "usage: npm run client -- [STACK] [CLIENT] [--key FILE] [--p12 [--legacy] [--password-file PATH]]" >&2
    exit 64
}

positional=()
p12=false
legacy=false
password_file=""
key_file=""
while [ "$#" -gt 0 ]; do
    case "$1" in
    --p12) p12=true ;;
    --legacy) legacy=true ;;
    --password-file)
        [ "$#" -ge 2 ] || usage
        password_file="$2"
        shift
        ;;
    --password-file=*) password_file="${1#--password-file=}" ;;
    --key)
        [ "$#" -ge 2 ] || usage
        key_file="$2"
        shift
        ;;
    --key=*) key_file="${1#--key=}" ;;
    -*) usage ;;
    *) positional+=("$1") ;;
    esac
    shift
done
[ "${#positional[@]}" -le 2 ] || usage
if [ "${p12}" = false ] && { [ "${legacy}" = true ] || [ -n "${password_file}" ]; }; then
    echo "[client] --legacy and --password-file only apply with --p12" >&2
    usage
fi
# Relative to where the user ran npm (npm runs scripts from the package root).
if [ -n "${password_file}" ] && [ "${password_file#/}" = "${password_file}" ]; then
    password_file="${INIT_CWD:-${repo_dir}}/${password_file}"
fi
if [ -n "${key_file}" ] && [ "${key_file#/}" = "${key_file}" ]; then
    key_file="${INIT_CWD:-${repo_dir}}/${key_file}"
fi

# shellcheck source=scripts/env.sh
. scripts/env.sh
stack="${positional[0]:-dev}"
client="${positional[1]:-$(pulumi stack output clientCertificatePems --json --stack "${stack}" | node -e 'process.stdout.write(Object.keys(JSON.parse(require("fs").readFileSync(0, "utf8")))[0] ?? "")')}"

# Both name files and a directory below .mtls-nginx/clients/: only names the stack itself could hold.
checked_name() {
    local what="$1" value="$2"
    if [[ ! "${value}" =~ ^[A-Za-z0-9._-]{1,64}$ || "${value}" == "." || "${value}" == ".." ]]; then
        echo "[client] ${what} \"${value}\": must be 1-64 of A-Za-z0-9._- (and not . or ..)" >&2
        exit 64
    fi
}
checked_name STACK "${stack}"
checked_name CLIENT "${client}"

pick() { node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8"))[process.argv[1]]; if (v === undefined) { console.error("no client " + process.argv[1]); process.exit(1); } process.stdout.write(v)' "$1"; }

# The bundle's password on stdout (captured, never exported); `read` and `printf` are builtins: never in argv.
bundle_password() {
    local password confirmation
    if [ -n "${password_file}" ]; then
        IFS= read -r password <"${password_file}" || true
        [ -n "${password}" ] || {
            echo "[client] ${password_file}: the first line (the password) is empty" >&2
            return 1
        }
    else
        if ! { : </dev/tty; } 2>/dev/null; then
            echo "[client] no terminal to read the .p12 password from: use --password-file PATH" >&2
            return 1
        fi
        IFS= read -r -s -p "[client] password for ${client}.p12: " password </dev/tty
        echo >&2
        IFS= read -r -s -p "[client] the same again: " confirmation </dev/tty
        echo >&2
        [ "${password}" = "${confirmation}" ] || {
            echo "[client] the passwords differ" >&2
            return 1
        }
    fi
    printf '%s\n' "${password}"
}

# Written beside TARGET with mode 0600 and renamed over it: an existing file's mode (say 0644) never
# carries over, and a failed read never leaves a truncated file.
write_private() {
    local target="$1" partial
    partial="$(mktemp "${target}.XXXXXX")"
    if ! cat >"${partial}"; then
        rm -f "${partial}"
        return 1
    fi
    chmod 0600 "${partial}"
    mv -f "${partial}" "${target}"
}

dir=".mtls-nginx/clients/${stack}"
umask 077
mkdir -p "${dir}"
chmod 0700 "${dir}"
pulumi stack output caCertificatePem --stack "${stack}" >"${dir}/ca.pem"
pulumi stack output clientCertificatePems --json --stack "${stack}" | pick "${client}" >"${dir}/${client}.crt"
# A client that brought a CSR is absent from the key map: its key never was in the stack.
has() { node -e 'process.exit(Object.hasOwn(JSON.parse(require("fs").readFileSync(0, "utf8")), process.argv[1]) ? 0 : 1)' "$1"; }
key_path="${client}.key"
bundle_key="${dir}/${client}.key"
if pulumi stack output clientPrivateKeyPems --json --show-secrets --stack "${stack}" | has "${client}"; then
    if [ -n "${key_file}" ]; then
        echo "[client] --key is for a client that brought a CSR; the stack made ${client}'s key and writes it here" >&2
        exit 64
    fi
    pulumi stack output clientPrivateKeyPems --json --show-secrets --stack "${stack}" | pick "${client}" |
        write_private "${dir}/${client}.key"
else
    # A key written here before the client brought its CSR is not its key any more.
    rm -f "${dir}/${client}.key"
    echo "[client] ${client} brought a CSR: its key is the client's own and the stack holds none (wrote ${dir}/ca.pem and ${dir}/${client}.crt only)" >&2
    if [ -z "${key_file}" ]; then
        if [ "${p12}" = true ]; then
            echo "[client] --p12 needs ${client}'s key: add --key FILE, the key ${client}'s CSR was made with (it is read, never copied)" >&2
            exit 65
        fi
        echo "[client] to run its curl command, add --key FILE (the key the CSR was made with)" >&2
        exit 0
    fi
    [ -r "${key_file}" ] || {
        echo "[client] --key ${key_file}: cannot read it" >&2
        exit 66
    }
    key_path="${key_file}"
    bundle_key="${key_file}"
fi
if [ "${p12}" = true ]; then
    format_flag=()
    [ "${legacy}" = false ] || format_flag=(--legacy)
    password="$(bundle_password)"
    printf '%s\n' "${password}" | bash scripts/clientBundle.sh "${format_flag[@]}" "${client}" \
        "${dir}/${client}.crt" "${bundle_key}" "${dir}/ca.pem" "${dir}/${client}.p12"
    unset password
    echo "[client] wrote ${dir}/${client}.p12 ($([ "${legacy}" = true ] && echo "legacy: 3DES, SHA-1 MAC" || echo "AES-256, PBKDF2, SHA-256 MAC"))" >&2
fi
curl_line="$(pulumi stack output curlCommands --json --stack "${stack}" | pick "${client}")"
echo "[client] in ${dir}: ${curl_line}" >&2
cd "${dir}"
# The line only names files and the URL; run it word by word, without a shell in between.
read -r -a curl_words <<<"${curl_line}"
# The curl line names CLIENT.key: for a CSR client, the key file given instead.
for index in "${!curl_words[@]}"; do
    [ "${curl_words[${index}]}" != "${client}.key" ] || curl_words[index]="${key_path}"
done
# -sS: no progress meter, errors still shown.
"${curl_words[0]}" -sS "${curl_words[@]:1}"
