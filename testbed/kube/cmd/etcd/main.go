// Command etcd is the upstream etcd server entry point, built from the
// go.etcd.io/etcd/server/v3 module so that it shares one go.sum with
// kube-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
