// pulumi-resource-tls: the Pulumi TLS provider, bridged from hashicorp/terraform-provider-tls.
//
// Why our own main: the upstream github.com/pulumi/pulumi-tls/provider/v5 module is not
// served by the Go module proxy reachable here (403 for every version), so this wrapper
// rebuilds the provider from pieces that are served: the Terraform bridge, the upstream
// Terraform provider (through ./shim) and our own ProviderInfo. Resource tokens follow the
// standard single-module mapping (tls_private_key -> tls:index/privateKey:PrivateKey, ...),
// which is the mapping the @pulumi/tls SDK uses.
package main

import (
	"context"
	"encoding/json"

	tlsshim "github.com/hashicorp/terraform-provider-tls/shim"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
)

// Version is the plugin version; it must equal node_modules/@pulumi/tls/package.json's
// pulumi.version. Overridable with -ldflags "-X main.Version=...".
var Version = "5.5.1"

func providerInfo() tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:           pftfbridge.ShimProvider(tlsshim.NewProvider()),
		Name:        "tls",
		Version:     Version,
		DisplayName: "TLS",
		Publisher:   "Pulumi",
		GitHubOrg:   "hashicorp",
		Repository:  "https://github.com/pulumi/pulumi-tls",
		License:     "Apache-2.0",
		// No tfgen run here, so no recorded bridge metadata: an empty store is valid at
		// runtime for a provider that uses no metadata-driven features.
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
	prov.MustComputeTokens(tokens.SingleModule("tls_", "index", tokens.MakeStandard("tls")))
	prov.SetAutonaming(255, "-")
	return prov
}

// minimalSchema is returned by GetSchema. The engine does not need the full package
// schema for preview/up/destroy; SDK code generation is not done from this binary.
func minimalSchema() []byte {
	b, _ := json.Marshal(map[string]any{"name": "tls", "displayName": "TLS", "version": Version})
	return b
}

func main() {
	ctx := context.Background()
	pftfbridge.Main(ctx, "tls", providerInfo(), pftfbridge.ProviderMetadata{PackageSchema: minimalSchema()})
}
