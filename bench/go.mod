module github.com/ssekit/sse/bench

go 1.26.0

replace github.com/ssekit/sse => ../

require (
	github.com/launchdarkly/eventsource v1.11.0
	github.com/r3labs/sse/v2 v2.10.0
	github.com/ssekit/sse v0.0.0-00010101000000-000000000000
	github.com/tmaxmax/go-sse v0.12.0
	gopkg.in/cenkalti/backoff.v1 v1.1.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	golang.org/x/net v0.0.0-20191116160921-f9c825593386 // indirect
	golang.org/x/oauth2 v0.38.0 // indirect
)
