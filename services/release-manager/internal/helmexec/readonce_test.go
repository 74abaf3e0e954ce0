package helmexec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestReadOnce(t *testing.T) {
	var mu sync.Mutex
	served := map[string]int{}
	gone := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		served[r.Method+" "+r.URL.Path]++
		switch {
		case r.Method == http.MethodDelete:
			gone[r.URL.Path] = true
		case gone[r.URL.Path] || strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(http.StatusNotFound)
			return
		}
		io.WriteString(w, r.Method+" "+r.URL.Path+" #"+string(rune('0'+served[r.Method+" "+r.URL.Path])))
	}))
	defer srv.Close()

	reads := &readOnce{}
	client := &http.Client{Transport: reads.wrap(http.DefaultTransport)}
	do := func(method, path, accept string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	count := func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		return served[key]
	}
	const obj = "/api/v1/namespaces/ns/configmaps/a"

	// Outside an Update every read reaches the server.
	do("GET", obj, "json")
	do("GET", obj, "json")
	if n := count("GET " + obj); n != 2 {
		t.Fatalf("outside an update: %d GETs served, want 2", n)
	}

	reads.during(func() {
		code, first := do("GET", obj, "json")
		_, again := do("GET", obj, "json")
		if code != http.StatusOK || again != first || count("GET "+obj) != 3 {
			t.Errorf("repeated read: %d %q then %q, %d served; want the first answer again and one more GET served", code, first, again, count("GET "+obj))
		}
		do("GET", obj, "yaml")
		if n := count("GET " + obj); n != 4 {
			t.Errorf("another Accept: %d served, want 4", n)
		}
		do("GET", obj+"?watch=true", "json")
		do("GET", obj+"?watch=true", "json")
		if n := count("GET " + obj); n != 6 {
			t.Errorf("watches: %d served, want 6 (never answered from memory)", n)
		}
		for range 2 {
			if code, _ := do("GET", "/api/v1/namespaces/ns/configmaps/missing", "json"); code != http.StatusNotFound {
				t.Errorf("missing object: %d", code)
			}
		}
		if n := count("GET /api/v1/namespaces/ns/configmaps/missing"); n != 2 {
			t.Errorf("a 404 kept: %d served, want 2", n)
		}
		// A write drops what was read of the object.
		do("PATCH", obj, "json")
		if _, after := do("GET", obj, "json"); after == first || count("GET "+obj) != 7 {
			t.Errorf("read after a patch answered %q from memory", after)
		}
		do("DELETE", obj, "json")
		if code, _ := do("GET", obj, "json"); code != http.StatusNotFound {
			t.Errorf("read after a delete: %d, want the server's 404", code)
		}
	})

	// And after it, nothing is kept.
	mu.Lock()
	gone[obj] = false
	mu.Unlock()
	before := count("GET " + obj)
	do("GET", obj, "json")
	if count("GET "+obj) != before+1 {
		t.Error("after the update a read was answered from memory")
	}
	if reads.got != nil {
		t.Errorf("answers kept after the update: %v", reads.got)
	}
}
