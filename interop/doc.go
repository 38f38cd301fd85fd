// Package interop runs the ssekit/sse client and the ssecat command against
// real SSE servers: nginx with the Nchan module (with Redis), better-sse
// behind express, and an MCP server built on the official TypeScript SDK.
//
// The tests start every server themselves on 127.0.0.1 and stop it by PID
// when they end. Run them with ./run, which installs the servers first.
package interop
