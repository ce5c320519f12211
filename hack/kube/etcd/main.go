// Command etcd is etcd's server built from go.etcd.io/etcd/server/v3, the
// same program as the upstream etcd binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
