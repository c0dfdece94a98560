// pulumi-resource-docker: the Pulumi Docker provider's Terraform-bridged resources,
// bridged from kreuzwerker/terraform-provider-docker.
//
// Why our own main: the upstream github.com/pulumi/pulumi-docker/provider/v4 module is not
// served by the Go module proxy reachable here (403 for every version), and neither is the
// kreuzwerker commit pulumi-docker 4.11.2 pins (v3.9.0, d7d7ff7). So this wrapper bridges
// the newest kreuzwerker commit the proxy serves (see go.mod) with our own ProviderInfo.
//
// Tokens follow the @pulumi/docker 4.x SDK: the standard single-module mapping
// (docker_container -> docker:index/container:Container, ...) plus the renames that SDK
// uses (docker_image -> RemoteImage, docker_config -> ServiceConfig, data docker_image ->
// getRemoteImage). Not included: pulumi-docker's native docker:index/image:Image (buildx)
// resource, and resources the upstream only implements with the plugin framework.
package main

import (
	"encoding/json"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	dockershim "github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version must equal node_modules/@pulumi/docker/package.json's pulumi.version.
// Overridable with -ldflags "-X main.Version=...".
var Version = "4.11.2"

func providerInfo() tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(dockershim.NewProvider(Version)),
		Name:        "docker",
		Version:     Version,
		DisplayName: "Docker",
		Publisher:   "Pulumi",
		GitHubOrg:   "kreuzwerker",
		Repository:  "https://github.com/pulumi/pulumi-docker",
		License:     "Apache-2.0",
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {Default: &tfbridge.DefaultInfo{EnvVars: []string{"DOCKER_HOST"}}},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_image":  {Tok: "docker:index/remoteImage:RemoteImage"},
			"docker_config": {Tok: "docker:index/serviceConfig:ServiceConfig"},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: "docker:index/getRemoteImage:getRemoteImage"},
		},
		// No tfgen run here, so no recorded bridge metadata (see ../tls/main.go).
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
	prov.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	return prov
}

func main() {
	schema, _ := json.Marshal(map[string]any{"name": "docker", "displayName": "Docker", "version": Version})
	tfbridge.Main("docker", Version, providerInfo(), schema)
}
