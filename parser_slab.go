package sse

// This file holds the data blocks in which the Parser joins the data of
// an event with several data: lines.

// The data of an event with several data: lines is joined in a data block
// (a strings.Builder), which is append-only like the read buffer: once an
// event's data string points into a block, the next event's data is joined
// after it, and a new block is allocated only when one is full, so that
// many events share one allocation. The first block is slabMin bytes and each new one doubles, up
// to slabMax, so that a quiet stream keeps a small block and a busy one
// allocates rarely; data that outgrows a block gets a block twice its size.
const (
	slabMin = 256
	slabMax = 8 << 10
)

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

// dataSize returns the size of the data buffer, a pending line included.
func (p *Parser) dataSize() int {
	if p.hasPend {
		return len(p.pend) + 1
	}
	return p.block.Len() - p.dataAt
}
