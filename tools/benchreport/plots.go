package benchreport

import (
	"fmt"
	"image/color"
	"slices"
	"strings"

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

// ThroughputPlot draws the install throughput (StepPlot of the install).
func ThroughputPlot(rs *Results) (*plot.Plot, error) { return StepPlot(rs, Steps[0]) }

// StepPlot draws releases/s against N for the release-manager (sdk), the
// client-go floor and the helm CLI loop of one life-cycle step: medians,
// bars from the slowest to the fastest run, a log scale so that the CLI
// shows.
func StepPlot(rs *Results, st Step) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = strings.ToUpper(st.Verb[:1]) + st.Verb[1:] + " throughput: " + st.Label
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
		{methodCLI, "sequential helm " + st.Verb + " CLI loop", colorCLI},
	} {
		var pts errorXYs
		for _, n := range rs.StepSizes(st.Bench, m.method) {
			s, _ := rs.StepRate(st.Bench, m.method, n)
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
		return nil, fmt.Errorf("throughput plot: no %s results", st.Verb)
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

// MemoryPlot draws the release-manager's steady and peak RSS against the
// deployments it holds in sync, with the targets of issue 14.
func MemoryPlot(rs *Results) (*plot.Plot, error) {
	sizes := rs.memorySizes()
	if len(sizes) == 0 {
		return nil, fmt.Errorf("memory plot: no memory results")
	}
	p := plot.New()
	p.Title.Text = "release-manager resident memory against deployments held in sync (built binary)"
	p.X.Label.Text = "deployments in sync"
	p.Y.Label.Text = "MiB"
	p.Legend.Top, p.Legend.Left = true, true
	maxY, maxN := 0.0, 0.0
	for _, m := range []struct {
		unit, label string
		color       color.Color
	}{
		{"rss-MiB", "steady RSS (after a restart and every entry looked at)", colorSDK},
		{"peak-rss-MiB", "peak RSS of that process (VmHWM)", colorP50},
		{"anon-rss-MiB", "of the steady RSS: anonymous (heap, stacks)", colorFloor},
	} {
		var pts errorXYs
		for _, n := range sizes {
			s, ok := rs.Summarize(fmt.Sprintf("%s/deployments=%d", benchRMMemory, n), m.unit)
			if !ok {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(n), Y: s.Median})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{s.Median - s.Min, s.Max - s.Median})
			maxY, maxN = max(maxY, s.Max), max(maxN, float64(n))
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return nil, fmt.Errorf("memory plot: %w", err)
		}
		line.Color, points.Color = m.color, m.color
		points.Shape = draw.CircleGlyph{}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("memory plot: %w", err)
		}
		bars.Color = m.color
		p.Add(line, points, bars)
		p.Legend.Add(m.label, line, points)
	}
	targets, err := plotter.NewScatter(plotter.XYs{{X: 1000, Y: 80}, {X: 5000, Y: 128}})
	if err != nil {
		return nil, fmt.Errorf("memory plot: %w", err)
	}
	targets.Color, targets.Shape = colorCLI, draw.CrossGlyph{}
	targets.Radius = vg.Points(5)
	p.Add(targets, plotter.NewGrid())
	p.Legend.Add("targets: ≤ 80 MiB at 1,000, ≤ 128 MiB at 5,000", targets)
	p.X.Min, p.X.Max = 0, max(maxN, 5000)*1.08
	p.Y.Min, p.Y.Max = 0, max(maxY, 128)*1.3
	return p, nil
}

// SavePlot writes a plot as SVG (the format follows the file name).
func SavePlot(p *plot.Plot, path string) error {
	if err := p.Save(8*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
