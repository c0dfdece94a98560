import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

export interface SmokeTestArgs {
    /** URL probed, e.g. https://localhost:8443/. */
    readonly url: string;
    /** curl --resolve value (name:port:address) so the name needs no DNS. */
    readonly resolve: string;
    /** CA bundle the server certificate must verify against (no -k). */
    readonly caCertificatePem: pulumi.Input<string>;
    /** Name of the client whose certificate is presented. */
    readonly clientName: string;
    readonly clientCertificatePem: pulumi.Input<string>;
    /** Client private key (secret). */
    readonly clientPrivateKeyPem: pulumi.Input<string>;
    /** Text the answer with a certificate must contain. */
    readonly expectedBody: string;
    /** Any change here re-runs the test (certificates, config, container, reload). */
    readonly triggers: pulumi.Input<unknown>[];
}

/**
 * Proves the deployed endpoint enforces mutual TLS: with a client certificate the answer is
 * 200 and the expected body; without one it is 400. A mismatch fails `pulumi up`.
 */
export class SmokeTest extends pulumi.ComponentResource {
    /** What the probe reported. */
    public readonly report: pulumi.Output<string>;

    constructor(name: string, args: SmokeTestArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:test:SmokeTest", name, {}, opts);

        const probe = new command.local.Command(
            `${name}-probe`,
            {
                create: smokeTestScript,
                interpreter: ["/bin/bash", "-c"],
                environment: {
                    SMOKE_URL: args.url,
                    SMOKE_RESOLVE: args.resolve,
                    SMOKE_CLIENT: args.clientName,
                    SMOKE_EXPECTED_BODY: args.expectedBody,
                    SMOKE_CA: pulumi.output(args.caCertificatePem),
                    SMOKE_CLIENT_CERT: pulumi.output(args.clientCertificatePem),
                    SMOKE_CLIENT_KEY: pulumi.secret(args.clientPrivateKeyPem),
                },
                triggers: args.triggers,
            },
            // The provider echoes inputs back as outputs; the client key inside must stay secret there too.
            { parent: this, additionalSecretOutputs: ["environment"] },
        );
        this.report = probe.stdout;
        this.registerOutputs({ report: this.report });
    }
}

// Retries for a while because Nginx may still be starting or finishing a reload.
export const smokeTestScript = `set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
printf '%s' "$SMOKE_CA" > "$work/ca.pem"
printf '%s' "$SMOKE_CLIENT_CERT" > "$work/client.crt"
printf '%s' "$SMOKE_CLIENT_KEY" > "$work/client.key"
probe() {
  local out="$1"; shift
  # Start empty: a failed handshake writes no body, and the report below reads both files.
  : > "$work/$out.body"; : > "$work/$out.err"
  curl -sS -o "$work/$out.body" -w '%{http_code}' --max-time 5 --cacert "$work/ca.pem" \\
    --resolve "$SMOKE_RESOLVE" "$@" "$SMOKE_URL" 2>"$work/$out.err" || true
}
# What came back: body and curl's error, on one line.
excerpt() { cat "$work/$1.body" "$work/$1.err" | head -c 300 | tr '\\n' ' '; }
for attempt in $(seq 1 30); do
  with_cert=$(probe with --cert "$work/client.crt" --key "$work/client.key")
  without_cert=$(probe without)
  failures=()
  if [ "$with_cert" != 200 ]; then
    failures+=("with the certificate of client '$SMOKE_CLIENT': expected 200, got $with_cert $(excerpt with)")
  elif ! grep -qF "$SMOKE_EXPECTED_BODY" "$work/with.body"; then
    failures+=("with the certificate of client '$SMOKE_CLIENT': expected a body containing '$SMOKE_EXPECTED_BODY', got '$(head -c 300 "$work/with.body")'")
  fi
  if [ "$without_cert" != 400 ]; then
    failures+=("without a client certificate: expected 400, got $without_cert $(excerpt without)")
  fi
  if [ \${#failures[@]} -eq 0 ]; then
    echo "smoke test passed: $SMOKE_URL with client '$SMOKE_CLIENT' -> 200, without a certificate -> 400 (attempt $attempt)"
    exit 0
  fi
  sleep 1
done
echo "smoke test failed against $SMOKE_URL after 30 attempts:" >&2
printf ' - %s\\n' "\${failures[@]}" >&2
exit 1
`;
