package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// up and serve take the same --image-pull values and refuse others before
// doing anything, naming the flag.
func TestImagePullFlag(t *testing.T) {
	for _, cmd := range []string{"up", "serve"} {
		for _, tc := range []struct {
			value, wantErr string
		}{
			{"never", ""},
			{"missing", ""},
			{"policy", ""},
			{"always", `invalid argument "always" for "--image-pull" flag: "always" is not one of never, missing, policy`},
			{"", `invalid argument "" for "--image-pull" flag`},
		} {
			var out, errOut bytes.Buffer
			// --help stops a valid command line before it runs.
			err := Run(context.Background(), []string{cmd, "--image-pull=" + tc.value, "--help"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("%s --image-pull=%s: %v", cmd, tc.value, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%s --image-pull=%s: error %v, want %q", cmd, tc.value, err, tc.wantErr)
			}
		}
	}
}

func TestListenWarning(t *testing.T) {
	for _, tc := range []struct {
		listen string
		warn   bool
	}{
		{"127.0.0.1:6443", false},
		{"127.0.0.1:0", false},
		{"[::1]:6443", false},
		{"localhost:6443", false},
		{"0.0.0.0:6443", true},
		{":6443", true},
		{"[::]:6443", true},
		{"192.168.1.10:6443", true},
	} {
		if got := listenWarning(tc.listen) != ""; got != tc.warn {
			t.Errorf("listenWarning(%q) warns = %v, want %v", tc.listen, got, tc.warn)
		}
	}
}
