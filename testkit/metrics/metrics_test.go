package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const page = `# HELP x_total Things done.
# TYPE x_total counter
x_total{reason="a"} 2
x_total{reason="b"} 3
x_total{reason="b",extra="1"} 4
# HELP up Whether it is up.
# TYPE up gauge
up 1
# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1"} 1
lat_seconds_bucket{le="1"} 3
lat_seconds_bucket{le="+Inf"} 4
lat_seconds_sum 2.5
lat_seconds_count 4
`

func TestFamilies(t *testing.T) {
	f, err := ParseText(page)
	if err != nil {
		t.Fatal(err)
	}
	values := []struct {
		name   string
		labels []string
		want   float64
		found  bool
	}{
		{"x_total", []string{"reason", "a"}, 2, true},
		{"x_total", []string{"reason", "b"}, 3, true},
		{"x_total", []string{"reason", "c"}, 0, false},
		{"x_total", nil, 0, false},
		{"up", nil, 1, true},
		{"missing", nil, 0, false},
	}
	for _, c := range values {
		got, found := f.Value(c.name, c.labels...)
		if got != c.want || found != c.found {
			t.Errorf("Value(%s, %v) = %v, %v; want %v, %v", c.name, c.labels, got, found, c.want, c.found)
		}
	}
	if got := f.Sum("x_total"); got != 9 {
		t.Errorf("Sum(x_total) = %v, want 9", got)
	}
	if got := f.Sum("x_total", "reason", "b"); got != 7 {
		t.Errorf("Sum(x_total, reason=b) = %v, want 7", got)
	}
	if n, ok := f.HistogramCount("lat_seconds"); n != 4 || !ok {
		t.Errorf("HistogramCount = %d, %v; want 4, true", n, ok)
	}
	h, _ := f.Histogram("lat_seconds")
	bounds, counts := Buckets(h)
	if fmt.Sprint(bounds) != "[0.1 1 +Inf]" || fmt.Sprint(counts) != "[1 3 4]" {
		t.Errorf("Buckets = %v %v", bounds, counts)
	}
	if typ, ok := f.Type("up"); !ok || typ != dto.MetricType_GAUGE {
		t.Errorf("Type(up) = %v, %v", typ, ok)
	}
	if got := f.Text("u"); got != "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n" {
		t.Errorf("Text(u) = %q", got)
	}
	if !f.Has("up") || f.Has("down") {
		t.Error("Has is wrong")
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := ParseText("x_total{reason=\"a\" 1\n"); err == nil {
		t.Fatal("a broken page parsed")
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, page)
	}))
	defer srv.Close()
	f, err := Scrape(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Value("up"); v != 1 {
		t.Errorf("up = %v", v)
	}
	if _, err := Scrape(srv.URL + "/nothing"); err == nil {
		t.Error("a 404 scraped without error")
	}
}

func TestGather(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "Things."}, []string{"reason"})
	reg.MustRegister(c)
	c.WithLabelValues("a").Add(2)
	f, err := Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Value("x_total", "reason", "a"); v != 2 || !ok {
		t.Errorf("x_total{reason=a} = %v, %v; want 2, true", v, ok)
	}
}
