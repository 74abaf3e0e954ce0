package benchreport

import (
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	colorSDK   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorFloor = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colorCLI   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colorP50   = color.RGBA{R: 0x9e, G: 0xc5, B: 0xe8, A: 0xff}
	colorP99   = colorSDK
)

// errorXYs are medians with their min–max range as error bars.
type errorXYs struct {
	plotter.XYs
	plotter.YErrors
}

// ThroughputPlot draws releases/s against N for the release-manager (sdk),
// the client-go floor and the helm CLI loop: medians, bars from the
// slowest to the fastest run, a log scale so that the CLI shows.
func ThroughputPlot(rs *Results) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Install throughput: N entries in one etcd txn → N releases deployed"
	p.X.Label.Text = "N (deployments)"
	p.Y.Label.Text = "releases/s (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	// Bottom right is empty: the CLI sits at the smallest N, far below.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.YOffs = vg.Points(30)
	drawn, maxN := 0, 0.0
	var ticks []plot.Tick
	ticked := map[int]bool{}
	for _, m := range []struct {
		method, label string
		color         color.Color
	}{
		{methodSDK, "release-manager (Helm SDK in-process)", colorSDK},
		{methodFloor, "client-go floor (the same objects, written directly)", colorFloor},
		{methodCLI, "sequential helm install CLI loop", colorCLI},
	} {
		var pts errorXYs
		for _, n := range rs.InstallSizes(m.method) {
			s, _ := rs.InstallRate(m.method, n)
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(n), Y: s.Median})
			maxN = max(maxN, float64(n))
			if !ticked[n] {
				ticked[n] = true
				ticks = append(ticks, plot.Tick{Value: float64(n), Label: fmt.Sprint(n)})
			}
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{s.Median - s.Min, s.Max - s.Median})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return nil, fmt.Errorf("throughput plot: %w", err)
		}
		line.Color, points.Color = m.color, m.color
		points.Shape = draw.CircleGlyph{}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("throughput plot: %w", err)
		}
		bars.Color = m.color
		p.Add(line, points, bars)
		p.Legend.Add(m.label, line, points)
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("throughput plot: no install results")
	}
	p.Add(plotter.NewGrid())
	p.X.Min, p.X.Max = 0, maxN*1.08
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 1
	return p, nil
}

// LatencyPlot draws p50 and p99 (medians over runs; the ranges are in the
// report's table) of the two change → entry latencies, with the 25 ms
// target.
func LatencyPlot(rs *Results) (*plot.Plot, error) {
	type svc struct{ bench, label string }
	var shown []svc
	for _, s := range []svc{{benchPods, "pod-monitor: pod status → state entry"}, {benchNADs, "resource-monitor: NAD → resource entry"}} {
		if _, ok := rs.Summarize(s.bench, "p99-ms"); ok {
			shown = append(shown, s)
		}
	}
	if len(shown) == 0 {
		return nil, fmt.Errorf("latency plot: no latency results")
	}
	p := plot.New()
	p.Title.Text = "Change → config DB entry latency (medians of runs)"
	p.Y.Label.Text = "ms"
	p.Legend.Top, p.Legend.Left = true, true
	w := vg.Points(40)
	var p50s, p99s plotter.Values
	var labels []string
	for _, s := range shown {
		a, _ := rs.Summarize(s.bench, "p50-ms")
		b, _ := rs.Summarize(s.bench, "p99-ms")
		p50s = append(p50s, a.Median)
		p99s = append(p99s, b.Median)
		labels = append(labels, s.label)
	}
	b50, err := plotter.NewBarChart(p50s, w)
	if err != nil {
		return nil, fmt.Errorf("latency plot: %w", err)
	}
	b50.Color, b50.Offset = colorP50, -w/2
	b99, err := plotter.NewBarChart(p99s, w)
	if err != nil {
		return nil, fmt.Errorf("latency plot: %w", err)
	}
	b99.Color, b99.Offset = colorP99, w/2
	target, err := plotter.NewLine(plotter.XYs{{X: -0.6, Y: latencyTarget}, {X: float64(len(shown)) - 0.4, Y: latencyTarget}})
	if err != nil {
		return nil, fmt.Errorf("latency plot: %w", err)
	}
	target.Color = colorCLI
	target.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(b50, b99, target)
	p.Legend.Add("p50", b50)
	p.Legend.Add("p99", b99)
	p.Legend.Add("target: p99 ≤ 25 ms", target)
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(shown))-0.4
	p.Y.Min, p.Y.Max = 0, max(latencyTarget, slices.Max(p99s))*1.25
	return p, nil
}

// SavePlot writes a plot as SVG (the format follows the file name).
func SavePlot(p *plot.Plot, path string) error {
	if err := p.Save(8*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
