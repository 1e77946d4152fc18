package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// corpusCase is one line of testdata/invalid/corpus.jsonl (written by
// hack/invalid-corpus.py): a request kube-apiserver refuses, and how.
type corpusCase struct {
	Name   string          `json:"name"`
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Object json.RawMessage `json:"object"`
	Raw    *string         `json:"raw"`
	Code   int32           `json:"code"`
	// Reason, when the code's usual one is not it (409 AlreadyExists).
	Reason metav1.StatusReason `json:"reason"`
	Field  string              `json:"field"`
}

// expand replaces "@repeat:S:N" strings with S repeated N times.
func expand(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = expand(e)
		}
	case []any:
		for i, e := range x {
			x[i] = expand(e)
		}
	case string:
		if rest, ok := strings.CutPrefix(x, "@repeat:"); ok {
			if i := strings.LastIndex(rest, ":"); i > 0 {
				if n, err := strconv.Atoi(rest[i+1:]); err == nil {
					return strings.Repeat(rest[:i], n)
				}
			}
		}
	}
	return v
}

func (c corpusCase) body(t *testing.T) []byte {
	if c.Raw != nil {
		return []byte(*c.Raw)
	}
	if c.Object == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(c.Object, &v); err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	b, err := json.Marshal(expand(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCorpus(t *testing.T) []corpusCase {
	f, err := os.Open("testdata/invalid/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("corpus line %d: %v", len(cases)+1, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestInvalidCorpus posts the corpus of invalid objects: each is answered
// as kube-apiserver answers it (the status code, its reason, and for 422
// the field in details.causes), and none is stored.
func TestInvalidCorpus(t *testing.T) {
	cases := readCorpus(t)
	if len(cases) < 200 {
		t.Fatalf("the corpus has %d cases, want at least 200", len(cases))
	}
	srv, cs := startServer(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "corpus"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := srv.LoopbackConfig()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The controller's own objects first (every namespace's default
	// ServiceAccount, which pods need, and kube-root-ca.crt), so that the
	// counts below are the corpus's alone.
	eventually(t, "the namespaces' default objects", func() bool {
		nss, err1 := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		sas, err2 := cs.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{})
		cms, err3 := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
		return err1 == nil && err2 == nil && err3 == nil && len(sas.Items) == len(nss.Items) && len(cms.Items) == len(nss.Items)
	})
	before := stored(t, hc, cfg.Host)
	reasons := map[int32]metav1.StatusReason{400: metav1.StatusReasonBadRequest, 403: metav1.StatusReasonForbidden, 409: metav1.StatusReasonConflict,
		413: metav1.StatusReasonRequestEntityTooLarge, 422: metav1.StatusReasonInvalid}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			req, _ := http.NewRequest(c.Method, cfg.Host+c.Path, bytes.NewReader(c.body(t)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			var st metav1.Status
			if err := json.Unmarshal(data, &st); err != nil || st.Kind != "Status" {
				t.Fatalf("%d, not a Status: %.300s", resp.StatusCode, data)
			}
			reason := reasons[c.Code]
			if c.Reason != "" {
				reason = c.Reason
			}
			if int32(resp.StatusCode) != c.Code || st.Code != c.Code || st.Reason != reason {
				t.Fatalf("%d %s %q, want %d %s", resp.StatusCode, st.Reason, st.Message, c.Code, reason)
			}
			if c.Field == "" {
				return
			}
			var fields []string
			if st.Details != nil {
				for _, cause := range st.Details.Causes {
					if cause.Field == c.Field {
						return
					}
					fields = append(fields, cause.Field)
				}
			}
			t.Errorf("no cause for %s; causes are on %q (%s)", c.Field, fields, st.Message)
		})
	}
	if after := stored(t, hc, cfg.Host); after != before {
		t.Errorf("stored objects changed:\nbefore %s\nafter  %s", before, after)
	}
}

// stored counts the objects of every kind the corpus posts.
func stored(t *testing.T, hc *http.Client, host string) string {
	var out []string
	for _, p := range []string{"/api/v1/pods", "/api/v1/configmaps", "/api/v1/secrets", "/api/v1/services", "/api/v1/namespaces", "/api/v1/serviceaccounts",
		"/api/v1/endpoints", "/api/v1/nodes", "/api/v1/events", "/api/v1/replicationcontrollers", "/apis/apps/v1/deployments", "/apis/apps/v1/replicasets",
		"/apis/batch/v1/jobs", "/apis/discovery.k8s.io/v1/endpointslices"} {
		resp, err := hc.Get(host + p)
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, fmt.Sprintf("%s=%d", p, len(list.Items)))
	}
	return strings.Join(out, " ")
}
