package main

// This file holds the demo's log: timestamped lines, and the slog handler
// that prints the sse package's records as "client" lines.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// logger prints timestamped lines; it is safe for concurrent use.
type logger struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		fmt.Fprintln(l.w)
		return
	}
	fmt.Fprintf(l.w, "%6.2fs  %s\n", time.Since(l.start).Seconds(), msg)
}

// sdkHandler prints the sse package's log records as "client" lines.
type sdkHandler struct{ lg *logger }

func (h *sdkHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *sdkHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "sse: connected" {
		return nil // the server's line says it
	}
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(r.Message, "sse: "))
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "err":
			fmt.Fprintf(&b, " (%s)", strings.TrimPrefix(a.Value.String(), "sse: "))
		case "delay":
			fmt.Fprintf(&b, " in %s", a.Value.Duration().Round(time.Millisecond))
		}
		return true
	})
	h.lg.printf("client │ %s", b.String())
	return nil
}

func (h *sdkHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *sdkHandler) WithGroup(string) slog.Handler      { return h }
