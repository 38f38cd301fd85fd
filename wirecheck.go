package sse

// This file holds the one check of what may go on the wire: header names
// and values by RFC 9110's grammar, and query values, tokens and event IDs
// free of control characters. A request that fails it is never sent.

import (
	"fmt"
	"net/http"
)

// isCtl reports whether b is an ASCII control character (RFC 5234 CTL).
func isCtl(b byte) bool { return b < 0x20 || b == 0x7f }

// hasCtl reports whether s holds any ASCII control character, tab
// included: such a value never goes into a query, a token or a
// Last-Event-ID.
func hasCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if isCtl(s[i]) {
			return true
		}
	}
	return false
}

// validFieldName reports whether name is an RFC 9110 field name: a token
// (section 5.6.2) of at least one tchar.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x80 && c > 0x20 && c != 0x7f && !isDelimiter(c):
		default:
			return false
		}
	}
	return true
}

// isDelimiter reports whether c is one of RFC 9110's delimiters, which a
// token excludes.
func isDelimiter(c byte) bool {
	switch c {
	case '"', '(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}':
		return true
	}
	return false
}

// validFieldValue reports whether v may be sent as an RFC 9110 field value
// (section 5.5): visible ASCII, obs-text (0x80-0xFF), space and tab only.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; isCtl(c) && c != '\t' {
			return false
		}
	}
	return true
}

// wireError returns the error for the first header of h that cannot be
// sent, or the first query value of rawQuery that holds a control
// character (raw or percent-encoded); nil when all can be sent. It names
// the header or parameter but never shows a value; suffix ends the message.
func wireError(h http.Header, rawQuery, suffix string) error {
	for name, values := range h {
		if !validFieldName(name) {
			return fmt.Errorf("sse: header name %q is not an RFC 9110 token%s", truncate(name, 64), suffix)
		}
		for _, v := range values {
			if !validFieldValue(v) {
				return fmt.Errorf("sse: header %q holds a control character%s", truncate(name, 64), suffix)
			}
		}
	}
	if name, ok := queryCtl(rawQuery); ok {
		return fmt.Errorf("sse: query parameter %q holds a control character%s", truncate(name, 64), suffix)
	}
	return nil
}

// queryCtl finds a query parameter whose name or value holds a control
// character, raw or percent-encoded, and returns its name as written.
// Escapes that do not decode are left alone: they go on the wire as they
// are.
func queryCtl(rawQuery string) (string, bool) {
	start := 0
	for i := 0; i <= len(rawQuery); i++ {
		if i < len(rawQuery) && rawQuery[i] != '&' && rawQuery[i] != ';' {
			continue
		}
		pair := rawQuery[start:i]
		start = i + 1
		if hasCtl(lenientUnescape(pair, true)) {
			name := pair
			for j := 0; j < len(pair); j++ {
				if pair[j] == '=' {
					name = pair[:j]
					break
				}
			}
			return lenientUnescape(name, true), true
		}
	}
	return "", false
}

// lenientUnescape decodes the valid %XX escapes of s, and '+' as a space
// when plus is set, leaving every other byte as it is.
func lenientUnescape(s string, plus bool) string {
	if !containsAny(s, plus) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case c == '+' && plus:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// containsAny reports whether s holds a '%', or a '+' when plus is set.
func containsAny(s string, plus bool) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || (plus && s[i] == '+') {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
