package sse

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
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

// The read buffer is append-only: the bytes of buf[:end] are never written
// again, so that event strings can point straight into it instead of being
// copied (see Parser). When it is full, reading goes on in a new buffer,
// which the unterminated line is carried over to, and the old one is left
// to the strings that still point into it.
//
// The first buffer is minReadBuf bytes, so that an idle stream holding
// little data stays small (net/http already buffers the body). The next is
// twice as large, up to maxReadBuf, when the reader handed out at least
// half a buffer in one Read, and larger than that only to hold a line
// longer than it, up to the line limit. One Read never asks for more than
// maxReadBuf bytes. The next buffer is minReadBuf bytes again after
// shrinkAfterReads reads in a row into an empty buffer that each returned
// under minReadBuf/2 bytes: the stream has slowed down.
const (
	minReadBuf       = 4 << 10
	maxReadBuf       = 64 << 10
	shrinkAfterReads = 4
)

// The data of an event with several data: lines is joined in a data block
// (a strings.Builder), which is append-only like the read buffer: once an event's data string
// points into a block, the next event's data is joined after it, and a new
// block is allocated only when one is full, so that many events share one
// allocation. The first block is slabMin bytes and each new one doubles, up
// to slabMax, so that a quiet stream keeps a small block and a busy one
// allocates rarely; data that outgrows a block gets a block twice its size.
const (
	slabMin = 256
	slabMax = 8 << 10
)

// maxLimit caps both limits, so that sizes derived from them cannot
// overflow an int.
const maxLimit = 1 << 30

// maxEmptyReads is how many reads in a row may return no bytes and no
// error before Next gives up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// errPzBadRead is returned when the reader reports an impossible count.
var errPzBadRead = errors.New("sse: reader returned an invalid count")

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
// A Parser reads lazily through its own buffer, which starts at 4 KiB and
// grows to 64 KiB only while the reader hands out big reads, and it never holds
// more than its limits (see SetLimits): a line longer than the line limit,
// or an event whose data, type and id together exceed the event limit,
// stops it with a *ParseError wrapping ErrEventTooLarge, after it has read
// at most 64 KiB past the byte that broke the limit.
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
			// stall the CPU on every event).
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

// processLine handles one non-empty line.
func (p *Parser) processLine(line []byte) error {
	// The usual fields, in the order of their frequency, go straight to
	// their handlers without searching for the colon or comparing the
	// field name a second time.
	switch {
	case len(line) >= 5 && line[4] == ':' && string(line[:4]) == "data":
		return p.addData(fieldValue(line[5:]))
	case len(line) >= 3 && line[2] == ':' && line[0] == 'i' && line[1] == 'd':
		return p.setID(fieldValue(line[3:]))
	case len(line) >= 6 && line[5] == ':' && string(line[:5]) == "event":
		return p.setType(fieldValue(line[6:]))
	case line[0] == ':':
		if p.onComment != nil {
			p.onComment(p.keep(fieldValue(line[1:])))
		}
		return nil
	}
	field, value := line, []byte(nil)
	if colon := bytes.IndexByte(line, ':'); colon >= 0 {
		field, value = line[:colon], fieldValue(line[colon+1:])
	}
	switch string(field) {
	case "data":
		return p.addData(value)
	case "event":
		return p.setType(value)
	case "id":
		return p.setID(value)
	case "retry":
		if d, ok := parseRetry(value); ok {
			p.retry, p.retryOK = d, true
		}
	}
	return nil
}

// addData handles a data: line with the given value.
func (p *Parser) addData(value []byte) error {
	if p.dataSize()+len(value)+1+len(p.typ)+len(p.id) > p.maxEvent {
		return p.tooLarge("event", p.maxEvent)
	}
	if !p.hasPend && p.block.Len() == p.dataAt && p.lineInBuf {
		// A first data line stays where it is: if it is the only
		// one, the event's data points into the read buffer.
		p.pend, p.hasPend = value, true
		return nil
	}
	if p.hasPend {
		p.hasPend = false
		p.appendData(p.pend)
		p.pend = nil
	}
	p.appendData(value)
	return nil
}

// appendData appends value and a line feed to the data joined so far. The
// caller checked that the result is within the event limit.
//
// The block is a strings.Builder because its Grow is the standard library's
// way to memory that is not cleared first (the parser reads no byte of a
// block that it has not written), and a Builder only appends, so the
// strings already taken from it never change. Measured on the multiline
// workload in an interleaved A/B (in-process, thread CPU time, 60-100
// rounds, three code layouts), against the earlier write through
// unsafe.StringData into a Builder's buffer: a plain make, which clears
// each block, was 5-9 % slower (rows without joined data: within 3 %);
// this Builder with a Write and a WriteByte per line, 3-5 % slower on
// whole and 4 KiB reads and 16 % on 7-byte reads; with the single Write of
// the line's own '\n' below, 0-5 %.
func (p *Parser) appendData(value []byte) {
	if p.block.Cap()-p.block.Len() < len(value)+1 {
		// A new block; the joined bytes so far were never handed out, so
		// they move with the event.
		joined := p.block.String()[p.dataAt:]
		n := len(joined) + len(value) + 1
		p.slabSize = min(max(2*p.slabSize, slabMin), slabMax)
		p.block.Reset()
		p.block.Grow(min(max(2*n, p.slabSize), max(n, p.maxEvent)))
		p.block.WriteString(joined)
		p.dataAt = 0
	}
	if n := len(value); cap(value) > n && value[:n+1][n] == '\n' {
		p.block.Write(value[:n+1]) // the line's own '\n': one call, not two
		return
	}
	p.block.Write(value)
	p.block.WriteByte('\n')
}

// setType handles an event: line with the given value.
func (p *Parser) setType(value []byte) error {
	if p.dataSize()+len(value)+len(p.id) > p.maxEvent {
		return p.tooLarge("event", p.maxEvent)
	}
	if string(value) != p.typ {
		p.typ = p.keep(value)
	}
	return nil
}

// setID handles an id: line with the given value.
func (p *Parser) setID(value []byte) error {
	if bytes.IndexByte(value, 0) >= 0 {
		return nil
	}
	if p.dataSize()+len(p.typ)+len(value) > p.maxEvent {
		return p.tooLarge("event", p.maxEvent)
	}
	if string(value) != p.id {
		p.id = p.keep(value)
	}
	return nil
}

// keep returns value, a part of the line being processed, as a string that
// stays valid: the bytes themselves when the line is in the read buffer
// (never written again), a copy when it was decoded into scratch space.
func (p *Parser) keep(value []byte) string {
	if len(value) == 0 {
		return ""
	}
	if p.lineInBuf {
		return unsafe.String(&value[0], len(value))
	}
	return string(value)
}

// dataSize returns the size of the data buffer, a pending line included.
func (p *Parser) dataSize() int {
	if p.hasPend {
		return len(p.pend) + 1
	}
	return p.block.Len() - p.dataAt
}

// fieldValue removes one leading space from a field value.
func fieldValue(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// parseRetry interprets a retry: value: ASCII digits only, at least one,
// in milliseconds, clamped to the largest time.Duration.
func parseRetry(b []byte) (time.Duration, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const maxMS = math.MaxInt64 / int64(time.Millisecond)
	var ms int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= maxMS {
			ms = ms*10 + int64(c-'0')
		}
	}
	if ms > maxMS {
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// dispatch handles a blank line: it commits the last event ID and returns
// the event's type, data and ID, if the data buffer holds any.
func (p *Parser) dispatch() (typ, data, id string, ok bool) {
	p.lastID = p.id
	switch {
	case p.hasPend:
		if len(p.pend) > 0 {
			data = unsafe.String(&p.pend[0], len(p.pend))
		}
		p.pend, p.hasPend = nil, false
	case p.block.Len()-p.dataAt > 1:
		joined := p.block.String()
		data = joined[p.dataAt : len(joined)-1]
		// The next event's data is joined after this one's, whose
		// bytes are never written again (a strings.Builder only
		// appends); a huge event's block is dropped rather than kept
		// for the small ones after it.
		if p.dataAt = len(joined); p.block.Cap() > slabMax {
			p.block.Reset()
			p.dataAt = 0
		}
	case p.block.Len()-p.dataAt == 1: // one empty data line
		p.dataAt = p.block.Len()
	default:
		p.typ = ""
		return "", "", "", false
	}
	typ = "message"
	if p.typ != "" {
		typ, p.typ = p.typ, ""
	}
	return typ, data, p.id, true
}

// tooLarge builds the error for an exceeded limit.
func (p *Parser) tooLarge(what string, limit int) error {
	return &ParseError{Offset: p.read, Limit: limit, What: what, Err: ErrEventTooLarge}
}

// nextLine returns the next line, without its line end. The slice is valid
// until the next call. At the end of the stream, or on a read error, the
// bytes of an unterminated line are dropped and the error is returned.
func (p *Parser) nextLine() ([]byte, error) {
	for {
		if p.skipLF && p.start < p.end {
			p.skipLF = false
			if p.buf[p.start] == '\n' {
				p.start++
			}
		}
		if !p.bomDone {
			if ok, err := p.skipBOM(); !ok {
				if err != nil {
					return nil, err
				}
				continue
			}
		}
		p.search('\n', &p.lf, &p.lfFrom)
		p.search('\r', &p.cr, &p.crFrom)
		if p.cr >= p.start && (p.lf < p.start || p.cr < p.lf) {
			s, e := p.start, p.cr
			p.start = e + 1
			if p.start == p.lf {
				p.start++
			} else if p.start == p.end {
				p.skipLF = true
			}
			return p.checkLine(s, e)
		}
		if p.lf >= p.start {
			s, e := p.start, p.lf
			p.start = e + 1
			return p.checkLine(s, e)
		}
		if err := p.checkPartial(); err != nil {
			return nil, err
		}
		if p.rerr != nil {
			return nil, p.rerr
		}
		p.fill()
	}
}

// search brings the cached search for the line end c up to date: *at is
// the index in buf of the next c when it is at or after start, and when it
// is below start, buf[start:*from] holds no c. Each search goes on where
// the last one stopped, to the end of the buffered bytes, so that every
// byte is scanned once per line end whatever their mix: a stream without
// CR costs one search for '\r' per read, not one per line.
func (p *Parser) search(c byte, at, from *int) {
	if *at < p.start && *from < p.end {
		f := max(p.start, *from)
		if k := bytes.IndexByte(p.buf[f:p.end], c); k >= 0 {
			*at, *from = f+k, f+k+1
		} else {
			*at, *from = -1, p.end
		}
	}
}

// fastLine returns the next line, as nextLine does, in the usual case: a
// '\n' is buffered with no '\r' before it (or just one, right before it:
// CRLF), the line is within the limits
// and valid UTF-8. Otherwise it reports false, having changed nothing but
// the cached search results, and nextLine does the rest. It repeats what
// nextLine and checkLine do for such a line, with fewer tests.
func (p *Parser) fastLine() ([]byte, bool) {
	s := p.start
	if p.skipLF || !p.bomDone {
		return nil, false
	}
	// The blank line that ends every event needs no search. The caches
	// stay right: no '\n' or '\r' can be cached as absent at s.
	if s < p.end && p.buf[s] == '\n' {
		p.start = s + 1
		return p.buf[s:s], true
	}
	if s+1 < p.end && p.buf[s] == '\r' && p.buf[s+1] == '\n' {
		p.start = s + 2
		return p.buf[s:s], true
	}
	lf := p.lf
	if lf < s {
		if p.lfFrom >= p.end {
			return nil, false // no '\n' buffered
		}
		from := max(s, p.lfFrom)
		k := bytes.IndexByte(p.buf[from:p.end], '\n')
		if k < 0 {
			p.lf, p.lfFrom = -1, p.end
			return nil, false
		}
		lf = from + k
		p.lf, p.lfFrom = lf, lf+1
	}
	// Find the next '\r', continuing the cached search as search does.
	// None before lf: the line ends at lf. One right before lf: a CRLF
	// line end. Any other: a bare CR ends the line earlier, which
	// nextLine handles. Both searches are written out here rather than
	// calling search, which is too large to inline: the call cost 7 % on
	// small CRLF events in an interleaved A/B.
	if p.cr < s && p.crFrom < p.end {
		from := max(s, p.crFrom)
		if k := bytes.IndexByte(p.buf[from:p.end], '\r'); k >= 0 {
			p.cr, p.crFrom = from+k, from+k+1
		} else {
			p.cr, p.crFrom = -1, p.end
		}
	}
	e := lf
	if p.cr >= s && p.cr < lf {
		if p.cr != lf-1 {
			return nil, false
		}
		e = lf - 1
	}
	n := e - s
	if n > p.maxLine || n+p.dataSize()+len(p.typ)+len(p.id) > p.maxEvent {
		return nil, false
	}
	if lf > p.checked {
		p.validate(s, lf)
	}
	if !p.checkedOK {
		return nil, false
	}
	p.start = lf + 1
	p.lineInBuf = true
	return p.buf[s:e], true
}

// validate checks buf[s:] for valid UTF-8, up to the last ASCII byte
// buffered and at least to e (which is before a line end, an ASCII byte), in
// one call rather than line by line. An ASCII byte is a character boundary
// in valid UTF-8, and lines end at ASCII bytes, so every line inside a
// valid span is valid. The search for an ASCII byte looks at the last few
// bytes only; when they are all non-ASCII the span ends at e.
func (p *Parser) validate(s, e int) {
	c := p.end
	for c > e && p.end-c < utf8.UTFMax && p.buf[c-1] >= utf8.RuneSelf {
		c--
	}
	if c > e && p.buf[c-1] >= utf8.RuneSelf {
		c = e
	}
	p.checked = c
	p.checkedOK = utf8.Valid(p.buf[s:c])
}

// checkLine applies the limits to the complete line buf[s:e] and decodes
// it when it is not valid UTF-8.
func (p *Parser) checkLine(s, e int) ([]byte, error) {
	line := p.buf[s:e]
	if len(line) > p.maxLine || len(line)+p.dataSize()+len(p.typ)+len(p.id) > p.maxEvent {
		if err := p.limitErr(line); err != nil {
			return nil, err
		}
	}
	if e > p.checked {
		p.validate(s, e)
	}
	if !p.checkedOK && !utf8.Valid(line) {
		p.dec = decodeUTF8(p.dec[:0], line)
		p.lineInBuf = false
		return p.dec, nil
	}
	p.lineInBuf = true
	return line, nil
}

// checkPartial applies the limits to the unterminated line buffered so far,
// so that an oversized line or value is refused before it is read whole.
func (p *Parser) checkPartial() error {
	return p.limitErr(p.buf[p.start:p.end])
}

// limitErr applies the line limit and a lower bound of the event limit to
// a line or to the start of one. The bound is the raw length of the value
// of a data, event or id line: U+FFFD is never shorter than the bytes it
// replaces, so the decoded value is at least that long. Both tests only
// grow with the line, and when both fail the one that fails at the
// shorter length is reported, so the error does not depend on how the
// bytes were split into reads.
func (p *Parser) limitErr(part []byte) error {
	n := len(part)
	size := p.dataSize()
	if n <= p.maxLine && n+size+len(p.typ)+len(p.id) <= p.maxEvent {
		return nil
	}
	base, field := 0, true // the event size is at least base+n
	switch {
	case bytes.HasPrefix(part, []byte("data:")):
		base = size - len("data: ") + 1 + len(p.typ) + len(p.id)
	case bytes.HasPrefix(part, []byte("event:")):
		base = size - len("event: ") + len(p.id)
	case bytes.HasPrefix(part, []byte("id:")):
		base = size + len(p.typ) - len("id: ")
	default:
		field = false
	}
	eventOver := field && base+n > p.maxEvent
	lineOver := n > p.maxLine
	switch {
	case eventOver && (!lineOver || p.maxEvent-base < p.maxLine):
		return p.tooLarge("event", p.maxEvent)
	case lineOver:
		return p.tooLarge("line", p.maxLine)
	case eventOver:
		return p.tooLarge("event", p.maxEvent)
	}
	return nil
}

// skipBOM drops one leading U+FEFF. It reports false when it needs more
// bytes to decide, with the read error if no more can come.
func (p *Parser) skipBOM() (bool, error) {
	const bom = "\xEF\xBB\xBF"
	b := p.buf[p.start:p.end]
	if len(b) >= len(bom) {
		if string(b[:len(bom)]) == bom {
			p.start += len(bom)
		}
		p.bomDone = true
		return true, nil
	}
	if string(b) != bom[:len(b)] {
		p.bomDone = true
		return true, nil
	}
	if p.rerr != nil {
		return false, p.rerr
	}
	p.fill()
	return false, nil
}

// fill reads once from r into the free end of the buffer. When there is no
// room, or the buffer is empty and the reads have become small, it first
// moves the unconsumed bytes (an unterminated line) to a new buffer, since
// strings may point into this one: a larger one when the reader hands out
// big reads or the line needs it, a smaller one when the reads have become
// small (see minReadBuf).
func (p *Parser) fill() {
	empty := p.start == p.end
	shrink := empty && p.smallRead >= shrinkAfterReads && len(p.buf) > minReadBuf
	if p.end == len(p.buf) || shrink {
		size := len(p.buf)
		switch {
		case shrink:
			size = minReadBuf
		case p.start == 0:
			// The buffered line is at most maxLine bytes (checkPartial),
			// so a buffer of maxLine+1 bytes always has room.
			size = min(2*len(p.buf), max(maxReadBuf, p.maxLine+1))
		case p.smallRead < 0 && len(p.buf) < maxReadBuf:
			size = 2 * len(p.buf)
		}
		n, carry := p.start, p.end-p.start
		nb := make([]byte, size)
		copy(nb, p.buf[n:p.end])
		p.buf = nb
		p.start, p.end = 0, carry
		// Neither '\n' nor '\r' is at or after start (the line is
		// unterminated), so the searches resume where they stopped.
		p.lf, p.cr, p.checked = -1, -1, 0
		p.lfFrom, p.crFrom = max(0, p.lfFrom-n), max(0, p.crFrom-n)
	}
	for i := 0; i < maxEmptyReads; i++ {
		// Read at most maxReadBuf bytes at a time, so that a limit is
		// overshot by at most that much however large the buffer grew.
		want := min(len(p.buf)-p.end, maxReadBuf)
		n, err := p.r.Read(p.buf[p.end : p.end+want])
		if n < 0 || n > want {
			p.rerr = errPzBadRead
			return
		}
		p.end += n
		p.read += int64(n)
		// smallRead < 0 marks a big read, of at least half the buffer
		// or minReadBuf bytes: the next buffer is then twice as large,
		// up to maxReadBuf, so that a busy stream allocates rarely and
		// carries few partial lines over. smallRead > 0 counts small
		// reads into an empty buffer, as an idle stream makes them
		// (small reads inside a long line do not count, or the buffer
		// would shrink and regrow for every long line). A read cut short
		// by the room left changes nothing.
		switch {
		case 2*n >= len(p.buf) || n >= minReadBuf:
			p.smallRead = -1
		case n == want:
		case empty && 2*n < minReadBuf:
			p.smallRead = max(p.smallRead, 0) + 1
		default:
			p.smallRead = 0
		}
		if err != nil {
			p.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	p.rerr = io.ErrNoProgress
}

// decodeUTF8 appends to dst the UTF-8 decoding of b as the WHATWG Encoding
// standard defines it: each maximal subpart of an invalid sequence becomes
// one U+FFFD.
func decodeUTF8(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		var need int
		lo, hi := byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c >= 0xE0 && c <= 0xEF:
			need = 2
			if c == 0xE0 {
				lo = 0xA0
			} else if c == 0xED {
				hi = 0x9F
			}
		case c >= 0xF0 && c <= 0xF4:
			need = 3
			if c == 0xF0 {
				lo = 0x90
			} else if c == 0xF4 {
				hi = 0x8F
			}
		default:
			dst = append(dst, "\uFFFD"...)
			i++
			continue
		}
		j := i + 1
		for seen := 0; seen < need; seen++ {
			if j >= len(b) || b[j] < lo || b[j] > hi {
				break
			}
			lo, hi = 0x80, 0xBF
			j++
		}
		if j-i == need+1 {
			dst = append(dst, b[i:j]...)
		} else {
			dst = append(dst, "\uFFFD"...)
		}
		i = j
	}
	return dst
}

// setLastEventID starts p with the last event ID of the stream's previous
// connections, which persists across reconnections.
func (p *Parser) setLastEventID(id string) {
	p.id = id
	p.lastID = id
}
