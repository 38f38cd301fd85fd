package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScrub(t *testing.T) {
	const sec = "a/b+S3CRET=="
	for _, tc := range []struct{ in, want string }{
		{"plain " + sec + " text", "plain REDACTED text"},
		{"escaped " + url.QueryEscape(sec), "escaped REDACTED"},
		{"lower-case escapes a%2fb%2bS3CRET%3d%3d!", "lower-case escapes REDACTED"},
		{`Location "/t%zz?k=v"`, `Location "/t%zz?REDACTED"`},
		{`Location "?k=v"`, `Location "?REDACTED"`},
		{"Get https://u:p@h/x?q=1: boom", "Get https://REDACTED@h/x?REDACTED boom"},
		{"//u:p@h/x", "//REDACTED@h/x"},
		{"https://h/x#frag", "https://h/x#REDACTED"},
		{"https://h/x?k=REDACTED&j=REDACTED: kept", "https://h/x?k=REDACTED&j=REDACTED: kept"},
		{"what? nothing", "what? nothing"},
		{"no secret here", "no secret here"},
	} {
		require.Equal(t, tc.want, scrub(tc.in, []string{sec, "ab"}), "scrub(%q)", tc.in)
	}
}

func TestScrubErrorKeepsConditions(t *testing.T) {
	dirty := fmt.Errorf("wrapped %w at https://h/?t=x", context.DeadlineExceeded)
	err := scrubError(dirty, nil)
	require.NotEqual(t, dirty, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotContains(t, err.Error(), "t=x")
	clean := errors.New("sse: nothing to hide")
	require.Equal(t, clean, scrubError(clean, nil))
	ue := &url.Error{Op: "Get", URL: "https://h/?t=x", Err: errors.New("boom")}
	require.NotEqual(t, error(ue), scrubError(ue, nil), "a *url.Error with a query is not clean")
}

func TestWireError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     http.Header
		query string
		ok    bool
	}{
		{"ordinary", http.Header{"X-Key": {"v a\tl obs\x80"}}, "a=1&b=%20", true},
		{"undecodable escape is sent as is", nil, "a=%zz", true},
		{"value \\x01", http.Header{"X": {"a\x01"}}, "", false},
		{"value \\x7f", http.Header{"X": {"a\x7f"}}, "", false},
		{"value LF", http.Header{"X": {"a\nb"}}, "", false},
		{"name with space", http.Header{"X Y": {"v"}}, "", false},
		{"name with colon", http.Header{"X:Y": {"v"}}, "", false},
		{"name with obs-text", http.Header{"X\x80": {"v"}}, "", false},
		{"empty name", http.Header{"": {"v"}}, "", false},
		{"query raw tab", nil, "a=b\tc", false},
		{"query escaped \\x01", nil, "a=b%01", false},
		{"query escaped name", nil, "a%0a=b", false},
		{"query escaped DEL", nil, "x=1;a=%7F", false},
	} {
		err := wireError(tc.h, tc.query, "")
		require.Equal(t, tc.ok, err == nil, "%s: %v", tc.name, err)
	}
}
