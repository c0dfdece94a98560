// pulumi-resource-kubernetes: Pulumi's Kubernetes provider
// (github.com/pulumi/pulumi-kubernetes/provider/v4, pkg/provider), served by our own main package.
//
// Upstream's main package (cmd/pulumi-resource-kubernetes) embeds schema-embed.json and
// terraform-mapping-embed.json, which upstream's build generates from the committed schema.json
// and terraform-mapping.json; the module zip has only the committed files, so that package does
// not build from the module cache. Here the setup script runs genembed/ on the module's
// files (schema version set to Version) into a temporary copy of this wrapper and builds that
// copy; main only passes the embedded bytes to the provider.
//
// Build (scripts/setup-toolchain.sh does this):
//
//	go run ./genembed -module-dir <provider/v4 module dir> -version 4.34.2 -out <copy of this dir>
//	go build -ldflags "-X main.Version=4.34.2 -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=4.34.2"
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
)

// Version must equal node_modules/@pulumi/kubernetes/package.json's pulumi.version. Overridable
// with -ldflags "-X main.Version=..."; the provider's own pkg/version.Version (its user agent)
// is set the same way.
var Version = "4.34.2"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", Version, pulumiSchema, terraformMapping)
}
