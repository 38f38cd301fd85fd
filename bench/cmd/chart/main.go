// Command chart turns the output of the bench module's benchmarks
// (`go test -bench`, any -count) into an SVG bar chart of MB/s per workload
// and library, and into the Markdown tables of bench/README.md.
//
// Usage:
//
//	go run ./cmd/chart -in bench.txt -svg chart.svg -md results.md
//
// Repeated runs of one benchmark are summarised by their median, as
// benchstat does. Lines "DNF <name> <reason>" (printed by BenchmarkParse
// when a library did not finish a pass within its budget) and the
// bad-events metric (a library that mis-decoded) are shown in the chart
// and the tables. benchstat's own output is not read: feed the raw file
// that benchstat summarises.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "", "go test -bench output (default stdin)")
	svg := flag.String("svg", "chart.svg", "SVG chart to write (empty: none)")
	md := flag.String("md", "", "Markdown tables to write (empty: stdout)")
	flag.Parse()
	if err := run(*in, *svg, *md); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in, svgPath, mdPath string) error {
	var r io.Reader = os.Stdin
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	res, err := parse(r)
	if err != nil {
		return err
	}
	if len(res.bench) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	if svgPath != "" {
		if err := os.WriteFile(svgPath, []byte(drawSVG(res)), 0o644); err != nil {
			return err
		}
	}
	tables := markdown(res)
	if mdPath == "" {
		_, err := io.WriteString(os.Stdout, tables)
		return err
	}
	return os.WriteFile(mdPath, []byte(tables), 0o644)
}

// results holds the median of every metric per benchmark name (without
// the -GOMAXPROCS suffix), and the DNF reasons.
type results struct {
	bench map[string]map[string]float64 // name -> unit -> median
	dnf   map[string]string
	cpu   string
}

func parse(r io.Reader) (*results, error) {
	samples := map[string]map[string][]float64{}
	res := &results{bench: map[string]map[string]float64{}, dnf: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if after, ok := strings.CutPrefix(line, "cpu: "); ok {
			res.cpu = strings.TrimSpace(after)
			continue
		}
		if after, ok := strings.CutPrefix(line, "DNF\t"); ok {
			name, reason, _ := strings.Cut(after, "\t")
			res.dnf[strings.TrimPrefix(name, "Benchmark")] = reason
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := samples[name]
		if m == nil {
			m = map[string][]float64{}
			samples[name] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", line, err)
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for name, m := range samples {
		med := map[string]float64{}
		for unit, vs := range m {
			med[unit] = median(vs)
		}
		res.bench[name] = med
	}
	return res, nil
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Orders used in the chart and tables; unknown names follow, sorted.
var (
	workloadOrder = []string{"small", "1kib", "multiline", "1mib", "small-crlf"}
	readerOrder   = []string{"bytes", "4k", "7b"}
	libOrder      = []string{"sdk", "sdk-pull", "go-sse", "r3labs", "launchdarkly", "indexbyte", "scan-utf8", "copy", "net-http"}
	peers         = map[string]bool{"go-sse": true, "r3labs": true, "launchdarkly": true}
	readerTitle   = map[string]string{"bytes": "bytes.Reader", "4k": "4 KiB reads", "7b": "7-byte reads"}
	workloadTitle = map[string]string{
		"small": "small", "1kib": "1 KiB", "multiline": "20 lines",
		"1mib": "1 MiB", "small-crlf": "small CRLF",
	}
)

// keys splits "Parse/workload=small/reader=bytes/lib=sdk" into its
// group ("Parse") and key=value pairs.
func keys(name string) (string, map[string]string) {
	parts := strings.Split(name, "/")
	kv := map[string]string{}
	for _, p := range parts[1:] {
		if k, v, ok := strings.Cut(p, "="); ok {
			kv[k] = v
		}
	}
	return parts[0], kv
}

// cell is one library's figures for one parse workload and reader.
type cell struct {
	m   map[string]float64 // nil when absent or DNF
	dnf string
}

func (c cell) bad() bool    { return c.m != nil && c.m["bad-events"] > 0 }
func (c cell) mbs() float64 { return c.m["MB/s"] }

// grid collects Parse results: reader -> workload -> lib -> cell.
func grid(res *results) (map[string]map[string]map[string]cell, []string, []string, []string) {
	g := map[string]map[string]map[string]cell{}
	seen := map[string]map[string]bool{"reader": {}, "workload": {}, "lib": {}}
	put := func(kv map[string]string, c cell) {
		rd, w, l := kv["reader"], kv["workload"], kv["lib"]
		if g[rd] == nil {
			g[rd] = map[string]map[string]cell{}
		}
		if g[rd][w] == nil {
			g[rd][w] = map[string]cell{}
		}
		g[rd][w][l] = c
		seen["reader"][rd], seen["workload"][w], seen["lib"][l] = true, true, true
	}
	for name, m := range res.bench {
		if grp, kv := keys(name); grp == "Parse" {
			put(kv, cell{m: m})
		}
	}
	for name, why := range res.dnf {
		if grp, kv := keys(name); grp == "Parse" {
			put(kv, cell{dnf: why})
		}
	}
	return g, order(seen["reader"], readerOrder), order(seen["workload"], workloadOrder), order(seen["lib"], libOrder)
}

func order(seen map[string]bool, pref []string) []string {
	var out []string
	for _, p := range pref {
		if seen[p] {
			out = append(out, p)
		}
	}
	var rest []string
	for s := range seen {
		if !contains(pref, s) {
			rest = append(rest, s)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// fastestPeer returns the highest MB/s among peers that finished and
// decoded correctly, and its name.
func fastestPeer(row map[string]cell) (float64, string) {
	best, who := 0.0, ""
	for l, c := range row {
		if peers[l] && c.m != nil && !c.bad() && c.mbs() > best {
			best, who = c.mbs(), l
		}
	}
	return best, who
}

func markdown(res *results) string {
	var b strings.Builder
	g, readers, workloads, libs := grid(res)
	for _, rd := range readers {
		fmt.Fprintf(&b, "#### Parse, %s\n\n", readerTitle[rd])
		b.WriteString("| workload | library | MB/s | ns/event | allocs/event | B/event | % of IndexByte | × fastest peer |\n")
		b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|\n")
		for _, w := range workloads {
			row := g[rd][w]
			if row == nil {
				continue
			}
			limit := 0.0
			if c, ok := row["indexbyte"]; ok && c.m != nil {
				limit = c.mbs()
			}
			best, _ := fastestPeer(row)
			for _, l := range libs {
				c, ok := row[l]
				if !ok {
					continue
				}
				lib := l
				if l == "sdk" {
					lib = "**sdk**"
				}
				if c.dnf != "" {
					fmt.Fprintf(&b, "| %s | %s | DNF | | | | | |\n", w, lib)
					continue
				}
				if c.bad() {
					lib += fmt.Sprintf(" ✗ (%.0f events wrong)", c.m["bad-events"])
				}
				pct, ratio := "", ""
				if limit > 0 && l != "copy" {
					pct = fmt.Sprintf("%.0f%%", 100*c.mbs()/limit)
				}
				if best > 0 && (l == "sdk" || peers[l]) {
					ratio = fmt.Sprintf("%.2f", c.mbs()/best)
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", w, lib,
					num(c.mbs()), num(c.m["ns/event"]), num(c.m["allocs/event"]), num(c.m["B/event"]), pct, ratio)
			}
		}
		b.WriteString("\n")
	}
	if dnfs := sortedKeys(res.dnf); len(dnfs) > 0 {
		b.WriteString("DNF (did not finish one pass within the budget):\n\n")
		for _, n := range dnfs {
			fmt.Fprintf(&b, "- `%s`: %s\n", n, res.dnf[n])
		}
		b.WriteString("\n")
	}
	e2eTable(&b, res)
	idleTable(&b, res)
	targets(&b, res)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// byLib returns the results of one benchmark group, by lib; with a
// workload, only that workload's.
func byLib(res *results, group string, workload ...string) (map[string]map[string]float64, []string) {
	out := map[string]map[string]float64{}
	seen := map[string]bool{}
	for name, m := range res.bench {
		if grp, kv := keys(name); grp == group && (len(workload) == 0 || kv["workload"] == workload[0]) {
			out[kv["lib"]] = m
			seen[kv["lib"]] = true
		}
	}
	return out, order(seen, libOrder)
}

// e2eWorkloads returns the workloads of the E2E group, in workloadOrder.
func e2eWorkloads(res *results) []string {
	seen := map[string]bool{}
	for name := range res.bench {
		if grp, kv := keys(name); grp == "E2E" {
			seen[kv["workload"]] = true
		}
	}
	return order(seen, workloadOrder)
}

func e2eTable(b *strings.Builder, res *results) {
	for _, w := range e2eWorkloads(res) {
		rows, libs := byLib(res, "E2E", w)
		best := 0.0
		for l, m := range rows {
			if peers[l] && m["bad-events"] == 0 {
				best = math.Max(best, m["events/s"])
			}
		}
		raw := rows["net-http"]["events/s"]
		fmt.Fprintf(b, "#### End to end (httptest server on loopback, %s workload)\n\n", w)
		b.WriteString("| library | events/s | ns/event | allocs/event | B/event | × fastest peer | % of net-http |\n|---|--:|--:|--:|--:|--:|--:|\n")
		for _, l := range libs {
			m := rows[l]
			lib, ratio, pct := l, "", ""
			if m["bad-events"] > 0 {
				lib += " ✗"
			}
			if best > 0 && l != "net-http" {
				ratio = fmt.Sprintf("%.2f", m["events/s"]/best)
			}
			if raw > 0 && l != "net-http" {
				pct = fmt.Sprintf("%.0f%%", 100*m["events/s"]/raw)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", lib, num(m["events/s"]), num(m["ns/event"]),
				num(m["allocs/event"]), num(m["B/event"]), ratio, pct)
		}
		b.WriteString("\n")
	}
}

func idleTable(b *strings.Builder, res *results) {
	rows, libs := byLib(res, "Idle")
	if len(rows) == 0 {
		return
	}
	raw := rows["net-http"]
	b.WriteString("#### Idle streams (per stream, 1,000 open at once, server in another process)\n\n")
	b.WriteString("| library | heap+stack B | heap B | stack B | goroutines | vs net/http |\n|---|--:|--:|--:|--:|--:|\n")
	for _, l := range libs {
		m := rows[l]
		vs := ""
		if raw != nil && l != "net-http" {
			vs = fmt.Sprintf("%+.1f KiB, %+.1f goroutines", (m["B/stream"]-raw["B/stream"])/1024,
				m["goroutines/stream"]-raw["goroutines/stream"])
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", l, num(m["B/stream"]), num(m["heap-B/stream"]),
			num(m["stack-B/stream"]), num(m["goroutines/stream"]), vs)
	}
	b.WriteString("\n")
}

// targets checks the SDK against the issue's targets, from the same run.
func targets(b *strings.Builder, res *results) {
	g, readers, workloads, _ := grid(res)
	b.WriteString("#### Targets (ratios from this run)\n\n")
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	for _, rd := range readers {
		for _, w := range workloads {
			row := g[rd][w]
			sdk, ok := row["sdk"]
			if !ok || sdk.m == nil {
				continue
			}
			best, who := fastestPeer(row)
			if best > 0 {
				r := sdk.mbs() / best
				fmt.Fprintf(b, "- parse %s/%s: %.2f× the fastest peer (%s); target ≥ 3×: %s\n", w, rd, r, who, check(r >= 3 && !sdk.bad()))
			}
			if lim := row["indexbyte"]; (w == "small" || w == "1kib") && lim.m != nil {
				p := 100 * sdk.mbs() / lim.mbs()
				fmt.Fprintf(b, "- parse %s/%s: %.0f%% of the IndexByte limit; target ≥ 40%%: %s\n", w, rd, p, check(p >= 40))
			}
			if w != "multiline" {
				a := sdk.m["allocs/event"]
				fmt.Fprintf(b, "- parse %s/%s: %.2f allocs/event; target ≤ 1: %s\n", w, rd, a, check(a <= 1.005))
			}
		}
	}
	issue13E2E(b, res, check)
	issue13Idle(b, res, check)
	b.WriteString("\n")
}

// issue13E2E checks issue 13's end-to-end targets: on small, the channel
// form (sdk) at ≥ 2× go-sse and the pull form (sdk-pull) at ≥ 3× go-sse
// and ≥ 50 % of the net/http line-scan limit; on 1kib, either form at
// ≥ 85 % of that limit.
func issue13E2E(b *strings.Builder, res *results, check func(bool) string) {
	es := func(rows map[string]map[string]float64, l string) float64 { return rows[l]["events/s"] }
	if rows, _ := byLib(res, "E2E", "small"); es(rows, "go-sse") > 0 && es(rows, "net-http") > 0 {
		g, raw := es(rows, "go-sse"), es(rows, "net-http")
		if v := es(rows, "sdk-pull"); v > 0 {
			fmt.Fprintf(b, "- end to end small, pull form: %.2f× go-sse (target ≥ 3×): %s; %.0f%% of net-http (target ≥ 50%%): %s\n",
				v/g, check(v >= 3*g), 100*v/raw, check(v >= raw/2))
		}
		if v := es(rows, "sdk"); v > 0 {
			fmt.Fprintf(b, "- end to end small, channel form: %.2f× go-sse (target ≥ 2×): %s\n", v/g, check(v >= 2*g))
		}
	}
	if rows, _ := byLib(res, "E2E", "1kib"); es(rows, "net-http") > 0 {
		raw := es(rows, "net-http")
		v := math.Max(es(rows, "sdk"), es(rows, "sdk-pull"))
		fmt.Fprintf(b, "- end to end 1kib, either form: %.0f%% of net-http (channel %.0f%%, pull %.0f%%; target ≥ 85%%): %s\n",
			100*v/raw, 100*es(rows, "sdk")/raw, 100*es(rows, "sdk-pull")/raw, check(v >= 0.85*raw))
	}
}

// issue13Idle checks issue 13's idle targets: the pull form at ≤ the
// net/http floor + 2 KiB with no goroutine beyond the floor's; the channel
// form at ≤ floor + 6 KiB, ≤ 1 goroutine more, and below every peer.
func issue13Idle(b *strings.Builder, res *results, check func(bool) string) {
	rows, _ := byLib(res, "Idle")
	raw := rows["net-http"]
	if raw == nil {
		return
	}
	over := func(l string) (float64, float64) {
		return rows[l]["B/stream"] - raw["B/stream"], rows[l]["goroutines/stream"] - raw["goroutines/stream"]
	}
	if rows["sdk-pull"] != nil {
		d, g := over("sdk-pull")
		fmt.Fprintf(b, "- idle, pull form: %+.2f KiB over net/http (target ≤ 2 KiB): %s; %+.1f goroutines (target 0): %s\n",
			d/1024, check(d <= 2<<10), g, check(g <= 0.001))
	}
	if rows["sdk"] != nil {
		d, g := over("sdk")
		below := true
		for l, m := range rows {
			if peers[l] {
				below = below && rows["sdk"]["B/stream"] < m["B/stream"]
			}
		}
		fmt.Fprintf(b, "- idle, channel form: %+.2f KiB over net/http (target ≤ 6 KiB): %s; %+.1f goroutines (target ≤ 1): %s; below every peer: %s\n",
			d/1024, check(d <= 6<<10), g, check(g <= 1.001), check(below))
	}
}

// num formats with 3 significant digits, without exponent.
func num(v float64) string {
	switch a := math.Abs(v); {
	case v == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

var libColor = map[string]string{
	"sdk": "#d62728", "go-sse": "#1f77b4", "r3labs": "#2ca02c",
	"launchdarkly": "#9467bd", "indexbyte": "#7f7f7f", "scan-utf8": "#bcbd22",
}

// drawSVG draws one panel per reader: groups of bars (one per library, the
// IndexByte limit last) per workload, MB/s on a log scale.
func drawSVG(res *results) string {
	g, readers, workloads, libs := grid(res)
	var shown []string
	for _, l := range libs {
		if l != "copy" {
			shown = append(shown, l)
		}
	}
	lo, hi := math.Inf(1), 0.0
	for _, rd := range readers {
		for _, w := range workloads {
			for _, l := range shown {
				if c := g[rd][w][l]; c.m != nil && c.mbs() > 0 {
					lo, hi = math.Min(lo, c.mbs()), math.Max(hi, c.mbs())
				}
			}
		}
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi == dlo {
		dhi++
	}

	const (
		left, right, top, panelH, gap, bar, groupGap = 70.0, 20.0, 60.0, 220.0, 70.0, 16.0, 30.0
	)
	groupW := float64(len(shown))*bar + groupGap
	width := left + right + float64(len(workloads))*groupW
	height := top + float64(len(readers))*(panelH+gap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	title := "SSE parsing throughput, MB/s (log scale, higher is better)"
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="16" font-weight="bold">%s</text>`+"\n", left, title)
	// Legend.
	x := left
	for _, l := range shown {
		name := l
		if l == "indexbyte" {
			name = "IndexByte limit"
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="32" width="12" height="12" fill="%s"/><text x="%.0f" y="43">%s</text>`+"\n", x, color(l), x+16, name)
		x += 24 + 7.5*float64(len(name))
	}
	for pi, rd := range readers {
		y0 := top + float64(pi)*(panelH+gap) + 20
		yOf := func(v float64) float64 {
			return y0 + panelH - (math.Log10(v)-dlo)/(dhi-dlo)*panelH
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-8, html.EscapeString(readerTitle[rd]))
		for d := dlo; d <= dhi; d++ {
			y := yOf(math.Pow(10, d))
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, width-right, y, y)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, num(math.Pow(10, d)))
		}
		for wi, w := range workloads {
			gx := left + float64(wi)*groupW + groupGap/2
			for li, l := range shown {
				c, ok := g[rd][w][l]
				bx := gx + float64(li)*bar
				switch {
				case !ok:
				case c.dnf != "":
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" transform="rotate(-90 %.1f %.1f)" fill="%s">DNF</text>`+"\n",
						bx+bar/2+3, y0+panelH-4, bx+bar/2+3, y0+panelH-4, color(l))
				case c.m != nil && c.mbs() > 0:
					y := yOf(c.mbs())
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s %s: %s MB/s</title></rect>`+"\n",
						bx, y, bar-2, y0+panelH-y, color(l), l, w, rd, num(c.mbs()))
					if c.bad() {
						fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">✗</text>`+"\n", bx+bar/2-1, y-3)
					}
				}
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="11">%s</text>`+"\n",
				gx+float64(len(shown))*bar/2, y0+panelH+16, html.EscapeString(label(w)))
		}
	}
	if res.cpu != "" {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" fill="#666">%s; ✗ = mis-decoded, DNF = did not finish</text>`+"\n", left, height-6, html.EscapeString(res.cpu))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func label(w string) string {
	if t, ok := workloadTitle[w]; ok {
		return t
	}
	return w
}

func color(l string) string {
	if c, ok := libColor[l]; ok {
		return c
	}
	return "#bcbd22"
}
