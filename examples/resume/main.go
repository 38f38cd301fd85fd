// Command resume reads an event stream and survives its own restarts: it
// saves the last event ID to a file after each event and, when started
// again, asks the server to resume after it (Last-Event-ID), so that no
// event is missed or seen twice across runs.
//
//	go run ./examples/resume -url https://api.example.com/events -state ./last-event-id
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ssekit/sse"
)

var (
	eventsURL = flag.String("url", os.Getenv("SSE_URL"), "event stream `URL` (env SSE_URL)")
	stateFile = flag.String("state", "last-event-id", "`file` that keeps the last event ID between runs")
	count     = flag.Int("n", 0, "stop after `n` events; 0: run until interrupted")
)

// stdout receives the events; tests replace it.
var stdout io.Writer = os.Stdout

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "resume:", err)
		os.Exit(1)
	}
}

func run() error {
	if *eventsURL == "" {
		return errors.New("-url is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	last, err := os.ReadFile(*stateFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	id := strings.TrimSpace(string(last))
	if id != "" {
		fmt.Fprintf(stdout, "resuming after event %s\n", id)
	}

	c := &sse.Client{LastEventID: id}
	s, err := c.Connect(ctx, *eventsURL)
	if err != nil {
		return err
	}
	defer s.Close()
	n := 0
	for ev := range s.Events() {
		fmt.Fprintf(stdout, "id=%s data=%s\n", ev.ID, ev.Data)
		// Save ev.ID, the ID in force when this event was dispatched,
		// after handling the event: a crash in between replays it rather
		// than losing it. (s.LastEventID() is where the reader is, which
		// may be several buffered events ahead of this one.)
		if err := save(*stateFile, ev.ID); err != nil {
			return err
		}
		if n++; n == *count {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted
	}
	return s.Err()
}

// save replaces the state file atomically, so that a crash never leaves a
// half-written ID behind.
func save(path, id string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(id + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
