package sse

// This file holds the Parser's field handling: what each line means
// (data, event, id, retry, comments, other fields) and the dispatch of an
// event at a blank line.

import (
	"bytes"
	"math"
	"time"
	"unsafe"
)

// processLine handles one non-empty line.
func (p *Parser) processLine(line []byte) error {
	// The usual fields, in the order of their frequency, go straight to
	// their handlers without searching for the colon or comparing the
	// field name a second time. Without this switch, small and multiline
	// were 10 % slower and 1kib 3-4 % (in-process interleaved A/B, 60
	// rounds).
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
