// Package options is the part of k8s.io/cloud-provider@v0.32.4/options that
// k8s.io/kubernetes/pkg/cluster/ports reads; written by hack/third-party.sh.
package options

// CloudControllerManagerWebhookPort is the cloud controller manager's
// webhook port, as upstream's options/webhook.go defines it.
const CloudControllerManagerWebhookPort = 10260
