module github.com/ssekit/sse/interop

go 1.26.0

replace github.com/ssekit/sse => ../

require (
	github.com/ssekit/sse v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
