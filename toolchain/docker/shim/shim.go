// Package shim exposes the upstream kreuzwerker/terraform-provider-docker SDKv2 provider
// to the Pulumi bridge.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	dockerprovider "github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the upstream SDKv2 Docker provider.
func NewProvider(version string) *schema.Provider { return dockerprovider.New(version)() }
