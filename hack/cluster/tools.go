//go:build tools

// Package tools pins, for `go mod tidy`, the upstream control plane that
// build.sh builds: kube-apiserver, kube-controller-manager and
// kube-scheduler of k8s.io/kubernetes, and etcd's server for ./etcd.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
