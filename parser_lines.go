package sse

// This file holds the Parser's line reader: the read buffer and how it
// grows, the cached searches for line ends, the fast path for the usual
// line, UTF-8 validation, the limits on lines, and the byte order mark.

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// The read buffer is append-only: the bytes of buf[:end] are never written
// again, so that event strings can point straight into it instead of being
// copied (see Parser). When it is full, reading goes on in a new buffer,
// which the unterminated line is carried over to, and the old one is left
// to the strings that still point into it.
//
// The first buffer is minReadBuf bytes, so that an idle stream holds
// little: net/http already buffers the body (4 KiB), and an idle stream
// waits in Read with this buffer and nothing else of its own (512 bytes
// rather than 4 KiB took 3.5 KiB off every idle stream; bench/README). The
// next is twice as large, up to maxReadBuf, when the reader handed out at
// least half a buffer or bigRead bytes in one Read, at least bigRead bytes
// when the buffer filled up with pieces of lines rather than with whole
// small events, and larger than that only to hold a line longer than it,
// up to the line limit. One Read never asks for more than maxReadBuf
// bytes. The next buffer is minReadBuf bytes again after shrinkAfterReads
// reads in a row into an empty buffer that each returned under bigRead/2
// bytes: the stream has slowed down.
const (
	minReadBuf       = 512
	bigRead          = 4 << 10
	maxReadBuf       = 64 << 10
	shrinkAfterReads = 4
)

// maxEmptyReads is how many reads in a row may return no bytes and no
// error before Next gives up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// errBadReadCount is returned when the reader reports an impossible count.
var errBadReadCount = errors.New("sse: reader returned an invalid count")

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
// CR costs one search for '\r' per read, not one per line. (Measured in
// fastLine: bounding its '\r' search to the line instead made no
// difference beyond noise on small and 1kib, 0.98-1.01 in an in-process
// interleaved A/B of 60 rounds; the cache is kept for the simpler rule.)
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
	// stay right: no '\n' or '\r' can be cached as absent at s. Without
	// these two tests, small was 6 % slower and small-crlf 9-10 % (in-process
	// interleaved A/B, 60 rounds).
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
// bytes only; when they are all non-ASCII the span ends at e. (Finding the
// last line end with bytes.LastIndexByte instead, a byte-by-byte loop, took
// 8 % of 1kib with 4 KiB reads in pprof; bench/README.)
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
		case p.smallRead == 0 && len(p.buf) < bigRead:
			// Filled by pieces of lines (reads into a buffer holding
			// a partial line), not by small events: not idle.
			size = bigRead
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
			p.rerr = errBadReadCount
			return
		}
		p.end += n
		p.read += int64(n)
		// smallRead < 0 marks a big read, of at least half the buffer
		// or bigRead bytes: the next buffer is then twice as large,
		// up to maxReadBuf, so that a busy stream allocates rarely and
		// carries few partial lines over. smallRead > 0 counts small
		// reads into an empty buffer, as an idle stream makes them
		// (small reads inside a long line do not count, or the buffer
		// would shrink and regrow for every long line). A read cut short
		// by the room left changes nothing (when it reset the count,
		// 1kib with 4 KiB reads took a new buffer every 7 events, now
		// every 61; bench/README).
		switch {
		case 2*n >= len(p.buf) || n >= bigRead:
			p.smallRead = -1
		case n == want:
		case empty && 2*n < bigRead:
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
