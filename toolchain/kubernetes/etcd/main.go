// Command etcd is the e2e test cluster's etcd: the upstream server (go.etcd.io/etcd/server/v3,
// the release Kubernetes v1.34 pins) behind a main of our own, since the etcd module's own main
// package lives in the repository root module, which is not published for `go build`.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
