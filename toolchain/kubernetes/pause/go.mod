// Wrapper module of the e2e test cluster's pause (sandbox) container: our own program, packed as
// an image by scripts/setup-kubernetes.sh.
module mtls-nginx/toolchain/kubernetes/pause

go 1.26.6
