package image

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// Normalize returns the canonical form of an image reference, as Kubernetes
// and containerd compare them: "busybox" is
// "docker.io/library/busybox:latest", a missing tag is "latest", and a
// reference with a digest keeps only the digest (the tag then means nothing).
func Normalize(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return named.String(), nil
}

// idPattern matches what may be an image ID or a prefix of one; four hex
// digits at least, so a short name that is not there does not pick an image
// whose ID happens to start with it.
var idPattern = regexp.MustCompile(`^(sha256:)?[0-9a-f]{4,64}$`)

// refName reads a name from OCI layout annotations. containerd writes the
// full name to io.containerd.image.name and only the tag to
// org.opencontainers.image.ref.name; other tools write a full reference to
// the latter. A bare word there ("1.36", "latest") is a tag of no known
// repository, so it names nothing.
func refName(annotations map[string]string) (string, bool) {
	if n := annotations["io.containerd.image.name"]; n != "" {
		if norm, err := Normalize(n); err == nil {
			return norm, true
		}
	}
	n := annotations["org.opencontainers.image.ref.name"]
	if !strings.ContainsAny(n, "/:@") {
		return "", false
	}
	norm, err := Normalize(n)
	if err != nil {
		return "", false
	}
	return norm, true
}

// repoDigest is repo@digest for a normalized reference, as CRI's RepoDigests.
func repoDigest(norm, digest string) (string, error) {
	named, err := reference.ParseNormalizedNamed(norm)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", norm, err)
	}
	return named.Name() + "@" + digest, nil
}
