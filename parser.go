package sse

import (
	"io"
	"time"
)

// Default limits of a Parser. Both can be changed with SetLimits before the
// first call to Next.
const (
	// DefaultMaxLineSize is the longest line, in bytes without its line
	// end, that a Parser accepts by default.
	DefaultMaxLineSize = 16 << 20
	// DefaultMaxEventSize is the most a Parser buffers for one event by
	// default: its data (with the joining line feeds), type and id.
	DefaultMaxEventSize = 16 << 20
)

// Event is one dispatched server-sent event.
type Event struct {
	Type string // the event: field; "message" when the stream named none
	Data string // data: lines joined with "\n", final "\n" removed
	ID   string // the last event ID in force when this event was dispatched
}

// Parser reads events from an event stream. STUB: replaced by the real
// implementation.
type Parser struct {
	r io.Reader
}

// NewParser returns a Parser reading from r.
func NewParser(r io.Reader) *Parser { return &Parser{r: r} }

// SetLimits sets the maximum line and event sizes; a value <= 0 keeps the
// default. It panics when called after the first Next.
func (p *Parser) SetLimits(maxLine, maxEvent int) {}

// OnComment makes the Parser call fn with the text of every comment line.
func (p *Parser) OnComment(fn func(comment string)) {}

// Next returns the next event.
func (p *Parser) Next() (Event, error) { return Event{}, io.EOF }

// LastEventID returns the last event ID.
func (p *Parser) LastEventID() string { return "" }

// Retry returns the latest retry: value.
func (p *Parser) Retry() (time.Duration, bool) { return 0, false }
