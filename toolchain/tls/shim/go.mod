// Shim module: it must keep this module path so that it may import the upstream
// provider's internal package (github.com/hashicorp/terraform-provider-tls/internal/...).
// The wrapper module replaces it with this directory.
module github.com/hashicorp/terraform-provider-tls/shim

go 1.24.8

require (
	github.com/hashicorp/terraform-plugin-framework v1.17.0
	github.com/hashicorp/terraform-provider-tls v1.2.1-0.20260130152455-857b38cda3fc
)
