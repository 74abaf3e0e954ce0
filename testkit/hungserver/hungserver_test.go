package hungserver

import (
	"net/http"
	"testing"
	"time"
)

func TestNeverAnswers(t *testing.T) {
	addr := Start(t)
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	resp, err := hc.Get("http://" + addr)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %s", resp.Status)
	}
}
