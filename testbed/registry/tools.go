//go:build tools

// Package tools pins the OCI registry the real-node test bed runs on 127.0.0.1
// (`go build github.com/distribution/distribution/v3/cmd/registry` in this
// module), so that `go mod tidy` keeps its dependencies in go.sum. Images built
// by scripts/build-images.sh are pushed there with skopeo and pulled by the
// node's containerd, the path users have.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
)
