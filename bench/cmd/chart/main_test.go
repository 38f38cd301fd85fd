package main

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Test CPU
BenchmarkParse/workload=small/reader=bytes/lib=sdk-2   10  100 ns/op  300.0 MB/s  1.000 allocs/event  50 B/event  100 events/op  10.0 ns/event
BenchmarkParse/workload=small/reader=bytes/lib=sdk-2   10  100 ns/op  500.0 MB/s  1.000 allocs/event  50 B/event  100 events/op  10.0 ns/event
BenchmarkParse/workload=small/reader=bytes/lib=sdk-2   10  100 ns/op  400.0 MB/s  1.000 allocs/event  50 B/event  100 events/op  10.0 ns/event
BenchmarkParse/workload=small/reader=bytes/lib=go-sse-2   10  100 ns/op  100.0 MB/s  2.000 allocs/event  50 B/event  100 events/op  10.0 ns/event
BenchmarkParse/workload=small/reader=bytes/lib=r3labs-2   10  100 ns/op  900.0 MB/s  2.000 allocs/event  50 B/event  7 bad-events  100 events/op  10.0 ns/event
BenchmarkParse/workload=small/reader=bytes/lib=indexbyte-2   10  100 ns/op  1000.0 MB/s  0 allocs/event  0 B/event  100 events/op  1.0 ns/event
DNF	BenchmarkParse/workload=small/reader=bytes/lib=launchdarkly	more than 30s
--- BENCH: BenchmarkParse/workload=small/reader=bytes/lib=r3labs-2
    parse_test.go:86: MIS-DECODED
BenchmarkIdle/streams=1000/lib=net-http-2  1  5 ns/op  30000 B/stream  3.000 goroutines/stream
BenchmarkE2E/workload=small/lib=sdk-2  10  5 ns/op  2000 events/s
BenchmarkE2E/workload=small/lib=sdk-pull-2  10  5 ns/op  3500 events/s
BenchmarkE2E/workload=small/lib=go-sse-2  10  5 ns/op  1000 events/s
BenchmarkE2E/workload=small/lib=net-http-2  10  5 ns/op  6000 events/s
BenchmarkE2E/workload=1kib/lib=sdk-2  10  5 ns/op  900 events/s
BenchmarkE2E/workload=1kib/lib=net-http-2  10  5 ns/op  1000 events/s
BenchmarkIdle/streams=1000/lib=sdk-2  1  5 ns/op  40000 B/stream  4.000 goroutines/stream
`

func TestParseAndRender(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	sdk := res.bench["Parse/workload=small/reader=bytes/lib=sdk"]
	if sdk["MB/s"] != 400 {
		t.Errorf("median MB/s = %v, want 400", sdk["MB/s"])
	}
	if res.dnf["Parse/workload=small/reader=bytes/lib=launchdarkly"] == "" {
		t.Errorf("DNF line not read: %v", res.dnf)
	}
	if res.cpu != "Test CPU" {
		t.Errorf("cpu = %q", res.cpu)
	}

	md := markdown(res)
	for _, want := range []string{
		"| small | **sdk** | 400 |",
		"| 40% | 4.00 |",                 // the mis-decoding r3labs is not the fastest peer
		"| small | launchdarkly | DNF |", // DNF row
		"r3labs ✗ (7 events wrong)",
		"4.00× the fastest peer (go-sse); target ≥ 3×: met",
		"40% of the IndexByte limit; target ≥ 40%: met",
		"end to end small, pull form: 3.50× go-sse (target ≥ 3×): met; 58% of net-http (target ≥ 50%): met",
		"end to end small, channel form: 2.00× go-sse (target ≥ 2×): met",
		"end to end 1kib, either form: 90% of net-http (channel 90%, pull 0%; target ≥ 85%): met",
		"| sdk-pull | 3500 |",
		"idle, channel form: +9.77 KiB over net/http (target ≤ 6 KiB): **missed**; +1.0 goroutines (target ≤ 1): met",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	svg := drawSVG(res)
	d := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background + legend (sdk, go-sse, r3labs, launchdarkly, indexbyte)
	// + bars (sdk, go-sse, r3labs, indexbyte)
	if rects != 1+5+4 {
		t.Errorf("%d rects, want 10", rects)
	}
	if !strings.Contains(svg, ">DNF<") || !strings.Contains(svg, "✗") {
		t.Error("SVG lacks the DNF or mis-decoded marks")
	}
}
