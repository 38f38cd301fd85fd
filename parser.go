package sse

// This file holds the Parser's API: the default limits, Event, Parser
// and its methods (NewParser, SetLimits, OnComment, LastEventID, Retry,
// Next). The other parts of the parser are in parser_lines.go (the line
// reader), parser_fields.go (what each line means), parser_slab.go (the
// data blocks) and parser_utf8.go (decoding invalid UTF-8).

import (
	"io"
	"strings"
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

// maxLimit caps both limits, so that sizes derived from them cannot
// overflow an int.
const maxLimit = 1 << 30

// Event is one dispatched server-sent event. Its strings point into the
// buffer the Parser read them into (see Parser), so an Event kept for long
// keeps that buffer in memory: keep strings.Clone copies of what you hold.
type Event struct {
	Type string // the event: field; "message" when the stream named none
	Data string // data: lines joined with "\n", final "\n" removed
	ID   string // the last event ID in force when this event was dispatched
}

// Parser reads events from an event stream as the WHATWG HTML standard
// ("interpreting an event stream") defines it: UTF-8 with invalid bytes
// replaced by U+FFFD, one leading byte order mark skipped, lines ended by
// CRLF, LF or CR, and an event dispatched at each blank line. Most callers
// want a Client, which runs a Parser on every connection; use a Parser
// directly to read a stream from elsewhere.
//
// A Parser reads lazily through its own buffer, which starts at 512 bytes
// and grows to 64 KiB only while the reader hands out big reads or lines
// in pieces, and it never holds more than its limits (see SetLimits): a
// line longer than the line limit, or an event whose data, type and id
// together exceed the event limit, stops it with a *ParseError wrapping
// ErrEventTooLarge, after it has read at most 64 KiB past the byte that
// broke the limit.
//
// The strings of the events it returns are not copied: they point into the
// Parser's read buffer, which is never written again once it holds them (a
// full buffer is replaced, not reused), or, for data joined from several
// lines, into a shared block of up to 8 KiB. So many events cost no
// allocation of their own, but an Event (or any of its strings) kept after
// later ones were parsed keeps its buffer alive: up to 64 KiB, or the
// longest line. Keep a copy (strings.Clone) of what you hold on to for
// long. Errors are sticky: once Next has returned an error, it returns the
// same error forever.
//
// A Parser is not safe for concurrent use: call its methods from one
// goroutine, or synchronise.
type Parser struct {
	r         io.Reader
	buf       []byte // read buffer; buf[start:end] is not consumed yet
	start     int
	end       int
	lf        int   // index in buf of the next '\n' when >= start
	lfFrom    int   // when lf < start, buf[start:lfFrom] holds no '\n'
	cr        int   // index in buf of the next '\r' when >= start
	crFrom    int   // when cr < start, buf[start:crFrom] holds no '\r'
	checked   int   // buf[:checked] has been validated as UTF-8 (see checkedOK)
	checkedOK bool  // the last validated span was valid UTF-8
	read      int64 // bytes read from r so far
	rerr      error // error from r, reported once the buffer holds no complete line
	err       error // sticky error returned by Next
	skipLF    bool  // the last line ended with a CR at the end of the buffered bytes
	bomDone   bool
	started   bool

	maxLine  int
	maxEvent int

	block     strings.Builder // data block: block.String()[dataAt:] is the event's data joined so far,
	dataAt    int             // each value followed by '\n'
	pend      []byte          // with hasPend: the event's only data value so far, in a read buffer
	hasPend   bool            // the event's data is pend + "\n" (and data is empty)
	lineInBuf bool            // the last line returned is in buf, not a decoded copy in dec
	slabSize  int             // the size of the last data block allocated; see slabMin
	typ       string          // event type buffer
	id        string          // last event ID buffer (persists across events)
	dec       []byte          // scratch for decoding lines that are not valid UTF-8
	smallRead int             // small reads into an empty buffer in a row; -1 after a big read
	lastID    string          // last event ID string, set at dispatch

	retry   time.Duration
	retryOK bool

	onComment func(string)
}

// NewParser returns a Parser reading from r with the default limits
// (DefaultMaxLineSize, DefaultMaxEventSize). It does not read from r until
// the first call to Next.
func NewParser(r io.Reader) *Parser {
	return &Parser{r: r, lf: -1, cr: -1, maxLine: DefaultMaxLineSize, maxEvent: DefaultMaxEventSize}
}

// SetLimits sets the longest line, in bytes without its line end, and the
// most one event may buffer: its data with the joining line feeds, its type
// and its id, in bytes after UTF-8 decoding (the id counts because it is
// buffered with the event, even when it carries over from an earlier one).
// A value <= 0 keeps the default (DefaultMaxLineSize, DefaultMaxEventSize);
// a value above 1 GiB counts as 1 GiB. The read buffer grows to hold the
// longest line, up to maxLine. SetLimits panics when called after the first
// Next.
func (p *Parser) SetLimits(maxLine, maxEvent int) {
	if p.started {
		panic("sse: Parser.SetLimits called after Next")
	}
	p.maxLine, p.maxEvent = DefaultMaxLineSize, DefaultMaxEventSize
	if maxLine > 0 {
		p.maxLine = min(maxLine, maxLimit)
	}
	if maxEvent > 0 {
		p.maxEvent = min(maxEvent, maxLimit)
	}
}

// OnComment makes the Parser call fn, from inside Next, with the text of
// every comment line (a line starting with ':'): the rest of the line with
// one leading space removed. Servers send comments as heartbeats. A nil fn
// (the default) turns the calls off; comments then cost nothing. It may be
// called at any time.
func (p *Parser) OnComment(fn func(comment string)) { p.onComment = fn }

// LastEventID returns the last event ID string: the id in force at the last
// blank line, also when that block dispatched no event (an id-only block).
// It is "" until the stream sets one, and after an empty id: field resets
// it. An id: in an event that the stream never completed is not reported.
func (p *Parser) LastEventID() string { return p.lastID }

// Retry returns the reconnection time of the latest valid retry: field (a
// value of ASCII digits only, in milliseconds; huge values are clamped to
// the largest time.Duration), and false when the stream has sent none. A
// retry: field takes effect as soon as its line is read, also inside an
// event that is never completed.
func (p *Parser) Retry() (time.Duration, bool) { return p.retry, p.retryOK }

// Next returns the next event. It reads from the underlying reader only
// when the bytes it holds contain no complete event, and returns as soon as
// one is complete, without waiting for more bytes. At the end of the stream
// it returns io.EOF; an event without its terminating blank line is
// dropped. A read error other than io.EOF is returned as it is (100 reads
// in a row that return nothing give io.ErrNoProgress). A line or event
// over the limits returns a *ParseError wrapping ErrEventTooLarge. All
// errors are sticky. The Parser never changes the bytes of a returned
// string, so they may be kept (see Parser for the memory they keep alive).
func (p *Parser) Next() (Event, error) {
	if p.err != nil {
		return Event{}, p.err
	}
	if !p.started {
		p.started = true
		p.buf = make([]byte, minReadBuf)
	}
	for {
		line, ok := p.fastLine()
		if !ok {
			var err error
			if line, err = p.nextLine(); err != nil {
				p.err = err
				return Event{}, err
			}
		}
		if len(line) == 0 {
			// The fields come back one by one and the Event is
			// built in the return statement, so that the compiler
			// passes it in registers rather than through temporaries
			// on the stack (whose 8-byte stores and 16-byte loads
			// stall the CPU on every event: ≈10 % of the small
			// workload in pprof, on the return lines; bench/README).
			if typ, data, id, ok := p.dispatch(); ok {
				return Event{Type: typ, Data: data, ID: id}, nil
			}
			continue
		}
		if err := p.processLine(line); err != nil {
			p.err = err
			return Event{}, err
		}
	}
}

// tooLarge builds the error for an exceeded limit.
func (p *Parser) tooLarge(what string, limit int) error {
	return &ParseError{Offset: p.read, Limit: limit, What: what, Err: ErrEventTooLarge}
}

// setLastEventID starts p with the last event ID of the stream's previous
// connections, which persists across reconnections.
func (p *Parser) setLastEventID(id string) {
	p.id = id
	p.lastID = id
}
