package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"
)

// smoke reports whether the benchmarks run as CI's smoke test
// (-benchtime=1x): the workloads are then 10x smaller and a pass that takes
// longer than 1 s is abandoned, so the whole module runs in well under a
// minute. Full runs use the sizes the README documents.
func smoke() bool {
	f := flag.Lookup("test.benchtime")
	return f != nil && f.Value.String() == "1x"
}

// budget is how long one untimed verification pass may take before the
// library is marked DNF (did not finish) for that workload and reader:
// some peers are quadratic in the event size when data arrives in small
// chunks, and would otherwise hold the run for many minutes.
func budget() time.Duration {
	if smoke() {
		return time.Second
	}
	return 30 * time.Second
}

var (
	workloadsOnce sync.Once
	workloads     []*Workload
)

func allWorkloads() []*Workload {
	workloadsOnce.Do(func() {
		div := 1
		if smoke() {
			div = 10
		}
		workloads = All(div)
	})
	return workloads
}

// verdict is the result of the verification pass, computed once per
// benchmark name (the testing package calls a benchmark function several
// times while it sizes b.N, and -count repeats it).
type verdict struct {
	bad   int    // wrong, missing or extra events
	first string // first difference
	dnf   string // non-empty: the pass did not finish within budget
}

var (
	verdictMu sync.Mutex
	verdicts  = map[string]verdict{}
)

// BenchmarkParse decodes every workload through every reader with every
// library and both baselines. Names are key=value so that benchstat can
// pivot them (-col /lib).
//
// Before timing, one untimed pass compares every decoded event (type,
// data, last event ID) with the generator's; a library that mis-decodes
// reports the number of wrong or missing events as the "bad-events"
// metric (and logs the first difference) and is marked in the README
// table. A library whose pass does not finish within budget() is skipped
// with a "DNF" message. The timed loop checks the event count and data
// length of every iteration.
func BenchmarkParse(b *testing.B) {
	for _, w := range allWorkloads() {
		for _, rd := range Readers() {
			for _, d := range decoders() {
				name := fmt.Sprintf("workload=%s/reader=%s/lib=%s", w.Name, rd.Name, d.name)
				b.Run(name, func(b *testing.B) {
					v := verifyOnce(b, name, d, rd, w)
					if v.dnf != "" {
						b.Skipf("DNF %s: %s", name, v.dnf)
					}
					if v.bad > 0 {
						b.Logf("MIS-DECODED %s: %d bad events; %s", name, v.bad, v.first)
					}
					b.SetBytes(int64(len(w.Stream)))
					runtime.GC()
					b.ReportAllocs()
					var ms0, ms1 runtime.MemStats
					runtime.ReadMemStats(&ms0)
					b.ResetTimer()
					for range b.N {
						s := sink{}
						err := d.run(rd.New(w.Stream), w, &s)
						if v.bad == 0 && (err != nil || s.n != len(w.Events) || s.bytes != w.DataBytes) {
							b.Fatalf("timed run differs from the verified one: %d events, %d bytes, err %v", s.n, s.bytes, err)
						}
					}
					b.StopTimer()
					runtime.ReadMemStats(&ms1)
					reportPerEvent(b, len(w.Events), &ms0, &ms1)
					if v.bad > 0 {
						b.ReportMetric(float64(v.bad), "bad-events")
					}
				})
			}
		}
	}
}

func verifyOnce(b *testing.B, name string, d decoder, rd Reader, w *Workload) verdict {
	verdictMu.Lock()
	v, ok := verdicts[name]
	verdictMu.Unlock()
	if !ok {
		b.StopTimer()
		v = verify(d, rd, w)
		b.StartTimer()
		verdictMu.Lock()
		verdicts[name] = v
		verdictMu.Unlock()
		if v.dnf != "" {
			// Skip messages are hidden without -v: print one line that
			// cmd/chart (and a reader of the raw output) can see.
			fmt.Printf("DNF\t%s\t%s\n", b.Name(), v.dnf)
		}
	}
	return v
}

// verify decodes w once and reports how many events were wrong or missing
// (extra events count too). Mis-decoding never fails the benchmark: it is
// a result to report, not a crash.
func verify(d decoder, rd Reader, w *Workload) verdict {
	var v verdict
	s := sink{check: func(i int, got Event) {
		if i >= len(w.Events) {
			v.bad++
			return
		}
		if want := w.Events[i]; got != want {
			if v.bad == 0 {
				v.first = fmt.Sprintf("event %d: got %s, want %s", i, short(got), short(want))
			}
			v.bad++
		}
	}}
	br := &budgetReader{r: rd.New(w.Stream), deadline: time.Now().Add(budget())}
	err := d.run(br, w, &s)
	if errors.Is(err, errBudget) || br.over {
		v.dnf = fmt.Sprintf("more than %v for one pass (read %.1f of %.1f MiB, decoded %d of %d events)",
			budget(), float64(br.n)/(1<<20), float64(len(w.Stream))/(1<<20), s.n, len(w.Events))
		return v
	}
	if s.n < len(w.Events) {
		v.bad += len(w.Events) - s.n
		if v.first == "" {
			v.first = fmt.Sprintf("%d of %d events", s.n, len(w.Events))
		}
	}
	if err != nil {
		if v.bad == 0 {
			v.bad = len(w.Events)
		}
		v.first += fmt.Sprintf(" (error: %v)", err)
	}
	return v
}

var errBudget = errors.New("bench: time budget exceeded")

// budgetReader fails reads once its deadline has passed (checked every 256
// reads to keep time.Now out of the hot path).
type budgetReader struct {
	r        io.Reader
	deadline time.Time
	reads    int
	n        int64
	over     bool
}

func (r *budgetReader) Read(p []byte) (int, error) {
	r.reads++
	if r.over || r.reads%256 == 0 && time.Now().After(r.deadline) {
		r.over = true
		return 0, errBudget
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

func short(e Event) string {
	d := e.Data
	if len(d) > 60 {
		d = fmt.Sprintf("%s…(%d bytes)", d[:60], len(d))
	}
	return fmt.Sprintf("{Type:%q ID:%q Data:%q}", e.Type, e.ID, d)
}

// reportPerEvent adds ns/event, allocs/event and B/event (measured around
// the timed loop, so allocations on a library's own goroutines count), and
// events/op.
func reportPerEvent(b *testing.B, events int, ms0, ms1 *runtime.MemStats) {
	n := float64(b.N) * float64(events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/event")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/event")
	b.ReportMetric(float64(events), "events/op")
}
