package main

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDemo runs the whole demo and checks that its log shows each thing
// the README promises, and no credential the demo knows.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })

	err := run()
	require.NoError(t, err, "run: %v\n%s", err, out.String())
	log := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`client │ event  id=1 type=message data="event 1"`),
		regexp.MustCompile(`closed the stream after 3 events \(forced disconnect\)`),
		regexp.MustCompile(`GET /events/bearer \[Authorization: Bearer …, Last-Event-ID: 3\] → 200 OK`),
		regexp.MustCompile(`(?s)GET /events/bearer \[[^]]*\] → 401 Unauthorized.*401; refreshing credentials.*POST /token .*GET /events/bearer \[[^]]*Last-Event-ID: 6\] → 200 OK.*id=7 `),
		regexp.MustCompile(`GET /events/ticket \[\?ticket=…, Last-Event-ID: 3\] → 200 OK`),
		regexp.MustCompile(`replayed ticket refused: Connect returned sse: auth rejected: .*401 Unauthorized`),
		regexp.MustCompile(`(?s)session revoked.*(credentials expired; refreshing|401; refreshing credentials).*logging in with the password form.*GET /events/cookie \[Cookie: session=…, Last-Event-ID: \d\] → 200 OK`),
		regexp.MustCompile(`GET /events/token \[\?token=…, Last-Event-ID: 3\] → 200 OK`),
		regexp.MustCompile(`ticket replays refused 2`),
		regexp.MustCompile(`demo finished in`),
	} {
		assert.True(t, want.MatchString(log), "the log lacks %q", want)
	}
	lastGateway.mu.Lock()
	secrets := append([]string{clientSecret, password}, lastGateway.seen...)
	lastGateway.mu.Unlock()
	assert.GreaterOrEqual(t, len(secrets), 10, "the gateway saw only %d credentials", len(secrets)-2)
	for _, secret := range secrets {
		assert.NotContains(t, log, secret, "the log shows the secret %q", secret)
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}
}
