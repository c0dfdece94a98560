#!/usr/bin/env bash
# The smoke test: proves the endpoint enforces mutual TLS. With the client's certificate the
# answer must be 200 with the expected body; without one it must be 400. Retries for a while,
# because Nginx may still be starting or finishing a reload.
#
# Input: the client's private key on stdin (never argv, the environment or a file), and in the
# environment SMOKE_URLS (one or more URLs, space-separated), SMOKE_RESOLVES (curl --resolve
# values, name:port:address, one per URL), SMOKE_CLIENT (the client's name), SMOKE_EXPECTED_BODY,
# SMOKE_CA and SMOKE_CLIENT_CERT (PEM). Curl reads the PEMs through pipes, so nothing is written.
# By hand: SMOKE_URLS=... SMOKE_RESOLVES=... ... bash components/smokeTest.sh < client.key
set -euo pipefail
client_key="$(cat)"
read -r -a urls <<<"${SMOKE_URLS}"
read -r -a resolves <<<"${SMOKE_RESOLVES}"
attempts="${SMOKE_ATTEMPTS:-30}"

# probe URL RESOLVE [curl options]: prints the status code on the first line, then body and errors.
probe() {
    local url="$1" resolve="$2"
    shift 2
    local output status
    output="$(curl -sS --max-time 5 -w '\n%{http_code}' --cacert <(printf '%s' "${SMOKE_CA}") \
        --resolve "${resolve}" "$@" "${url}" 2>&1)" || true
    status="${output##*$'\n'}"
    printf '%s\n%s\n' "${status}" "$(printf '%s' "${output%$'\n'*}" | head -c 300 | tr '\n' ' ')"
}

# check URL RESOLVE: prints nothing when the URL behaves, else one line per failure.
check() {
    local url="$1" resolve="$2" with without
    with="$(probe "${url}" "${resolve}" --cert <(printf '%s' "${SMOKE_CLIENT_CERT}") --key <(printf '%s' "${client_key}"))"
    without="$(probe "${url}" "${resolve}")"
    if [ "${with%%$'\n'*}" != 200 ]; then
        echo "${url} with the certificate of client '${SMOKE_CLIENT}': expected 200, got ${with//$'\n'/ }"
    elif [[ "${with#*$'\n'}" != *"${SMOKE_EXPECTED_BODY}"* ]]; then
        echo "${url} with the certificate of client '${SMOKE_CLIENT}': expected '${SMOKE_EXPECTED_BODY}', got '${with#*$'\n'}'"
    fi
    if [ "${without%%$'\n'*}" != 400 ]; then
        echo "${url} without a client certificate: expected 400, got ${without//$'\n'/ }"
    fi
}

for attempt in $(seq 1 "${attempts}"); do
    failures=""
    for index in "${!urls[@]}"; do
        result="$(check "${urls[$index]}" "${resolves[$index]}")"
        [ -z "${result}" ] || failures+="${result}"$'\n'
    done
    if [ -z "${failures}" ]; then
        echo "smoke test passed: ${urls[*]} (at ${resolves[*]##*:}) with client '${SMOKE_CLIENT}' -> 200, without a certificate -> 400 (attempt ${attempt})"
        exit 0
    fi
    sleep 1
done
echo "smoke test failed after ${attempts} attempts:" >&2
printf '%s' "${failures}" | sed 's/^/ - /' >&2
exit 1
