// Package shim exposes the upstream hashicorp/terraform-provider-tls provider
// (a terraform-plugin-framework provider) to the Pulumi bridge.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	tlsprovider "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

// NewProvider returns the upstream TLS provider.
func NewProvider() provider.Provider { return tlsprovider.New() }
