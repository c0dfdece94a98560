// Shim module: it must keep a module path under the upstream provider's declared path
// (github.com/terraform-providers/terraform-provider-docker, which the
// kreuzwerker/terraform-provider-docker repository declares) so that it may import the
// upstream internal/provider package. The wrapper module replaces it with this directory.
module github.com/terraform-providers/terraform-provider-docker/shim

go 1.25.8

require (
	github.com/hashicorp/terraform-plugin-sdk/v2 v2.40.1
	github.com/terraform-providers/terraform-provider-docker v0.0.0
)
